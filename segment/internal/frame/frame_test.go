package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestScanStopsAtFirstBadFrame builds a store of three frames and damages
// it in each way Scan must stop at, checking that Check and ReadAt reject
// the same frame.
func TestScanStopsAtFirstBadFrame(t *testing.T) {
	var store []byte
	var want []uint64
	for _, p := range []string{"a", "bb", "ccc"} {
		want = append(want, uint64(len(store)))
		store = Append(store, []byte(p), false)
	}
	third := want[2]
	tests := []struct {
		name   string
		damage func(b []byte) []byte
		intact int
	}{
		{"none", func(b []byte) []byte { return b }, 3},
		{"flipped payload bit", func(b []byte) []byte { b[third+HeaderSize] ^= 1; return b }, 2},
		{"flipped crc bit", func(b []byte) []byte { b[third+4] ^= 1; return b }, 2},
		{"zero length", func(b []byte) []byte { copy(b[third:], []byte{0, 0, 0, 0}); return b }, 2},
		{"length past the end", func(b []byte) []byte { b[third] = 1; return b }, 2},
		{"torn header", func(b []byte) []byte { return b[:third+3] }, 2},
		{"torn payload", func(b []byte) []byte { return b[:len(b)-1] }, 2},
		{"zeroed tail", func(b []byte) []byte { return append(b, make([]byte, 20)...) }, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.damage(bytes.Clone(store))
			r := bytes.NewReader(b)
			sc, err := Scan(r, uint64(len(b)))
			positions, end := sc.Positions, sc.End
			if err != nil {
				t.Fatal(err)
			}
			if len(positions) != tt.intact {
				t.Fatalf("scan found %d intact frames, want %d", len(positions), tt.intact)
			}
			for i, p := range positions {
				if p != want[i] {
					t.Fatalf("frame %d at %d, want %d", i, p, want[i])
				}
				if _, err := ReadAt(r, p, uint64(len(b))); err != nil {
					t.Fatalf("ReadAt(%d) of a frame Scan kept: %v", p, err)
				}
			}
			if end < uint64(len(b)) {
				if _, err := ReadAt(r, end, uint64(len(b))); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("ReadAt(%d), where Scan stopped: %v, want ErrCorrupt", end, err)
				}
			}
		})
	}
}

// TestCheckWantsExactlyOneFrame: a frame with a byte more or less than its
// length says is not intact, whatever its CRC.
func TestCheckWantsExactlyOneFrame(t *testing.T) {
	f := Append(nil, []byte("record"), false)
	if p, err := Check(f, 0); err != nil || string(p) != "record" {
		t.Fatalf("Check of an intact frame: %q, %v", p, err)
	}
	for _, b := range [][]byte{f[:len(f)-1], append(bytes.Clone(f), 0), f[:HeaderSize-1], Append(nil, nil, false)} {
		if _, err := Check(b, 0); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Check(%x): %v, want ErrCorrupt", b, err)
		}
	}
}

// TestScanCutsIncompleteBatch: frames of a batch whose last frame is missing
// are not kept, however intact they are, and are counted as pending.
func TestScanCutsIncompleteBatch(t *testing.T) {
	store := Append(nil, []byte("committed"), false)
	committed := uint64(len(store))
	store = Append(store, []byte("one"), true)
	store = Append(store, []byte("two"), true)
	second := uint64(len(store))
	store = Append(store, []byte("three"), false)
	for cut := committed; cut <= uint64(len(store)); cut++ {
		sc, err := Scan(bytes.NewReader(store[:cut]), cut)
		if err != nil {
			t.Fatal(err)
		}
		wantEnd, wantPositions := committed, 1
		if cut == uint64(len(store)) {
			wantEnd, wantPositions = cut, 4
		}
		if sc.End != wantEnd || len(sc.Positions) != wantPositions {
			t.Fatalf("cut at %d: end %d with %d frames, want %d with %d", cut, sc.End, len(sc.Positions), wantEnd, wantPositions)
		}
		wantPending := 0
		switch {
		case cut == uint64(len(store)):
		case cut >= second:
			wantPending = 2
		case cut >= committed+HeaderSize+3:
			wantPending = 1
		}
		if sc.Pending != wantPending {
			t.Fatalf("cut at %d: %d pending frames, want %d", cut, sc.Pending, wantPending)
		}
	}
}

// TestFlagIsChecksummed: flipping the batch flag alone fails the CRC, both
// ways, and an unflagged frame's CRC is that of its payload alone.
func TestFlagIsChecksummed(t *testing.T) {
	for _, more := range []bool{false, true} {
		f := Append(nil, []byte("record"), more)
		if More(f) != more {
			t.Fatalf("More of a frame appended with %v: %v", more, More(f))
		}
		if _, err := Check(f, 0); err != nil {
			t.Fatalf("intact frame (more %v): %v", more, err)
		}
		f[0] ^= 0x80
		if _, err := Check(f, 0); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("frame with its flag flipped from %v: %v, want ErrCorrupt", more, err)
		}
		f[0] ^= 0x80
		SetMore(f, !more)
		if _, err := Check(f, 0); err != nil || More(f) == more {
			t.Fatalf("SetMore(%v): more %v, %v", !more, More(f), err)
		}
	}
	f := Append(nil, []byte("record"), false)
	if got, want := binary.BigEndian.Uint32(f[4:]), crc32.Checksum([]byte("record"), crc32.MakeTable(crc32.Castagnoli)); got != want {
		t.Fatalf("unflagged CRC %08x, want the payload's %08x as version 1 wrote it", got, want)
	}
}

// TestChecksumOfFlaggedFrame: the CRC of a flagged frame is that of its
// payload extended over its length field, big-endian, exactly as
// crc32.Update computes it, for every payload length up to a few hundred
// bytes and lengths whose field has every byte set; and computing it
// allocates nothing.
func TestChecksumOfFlaggedFrame(t *testing.T) {
	payload := make([]byte, 300)
	for i := range payload {
		payload[i] = byte(i*7 + 3)
	}
	for n := 1; n <= len(payload); n++ {
		for _, field := range []uint32{lengthField(n, true), 0xffffffff, moreFlag | 0x00a5a5a5} {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], field)
			want := crc32.Update(crc32.Checksum(payload[:n], crcTable), crcTable, b[:])
			if got := checksum(payload[:n], field); got != want {
				t.Fatalf("payload of %d, field %#x: checksum %#x, want %#x", n, field, got, want)
			}
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { checksum(payload, lengthField(len(payload), true)) }); allocs != 0 {
		t.Fatalf("%v allocations per checksum", allocs)
	}
}
