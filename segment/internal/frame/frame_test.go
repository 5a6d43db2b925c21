package frame

import (
	"bytes"
	"errors"
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
		store = Append(store, []byte(p))
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
			positions, end, err := Scan(r, uint64(len(b)))
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
	f := Append(nil, []byte("record"))
	if p, err := Check(f, 0); err != nil || string(p) != "record" {
		t.Fatalf("Check of an intact frame: %q, %v", p, err)
	}
	for _, b := range [][]byte{f[:len(f)-1], append(bytes.Clone(f), 0), f[:HeaderSize-1], Append(nil, nil)} {
		if _, err := Check(b, 0); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Check(%x): %v, want ErrCorrupt", b, err)
		}
	}
}
