package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

// patchFile xors mask into the byte at pos of the file, or overwrites
// bytes there, without changing its size: the log may have it open.
func patchFile(t *testing.T, path string, pos int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}

func flipBit(t *testing.T, path string, pos int64, mask byte) {
	t.Helper()
	b := readFile(t, path)
	patchFile(t, path, pos, []byte{b[pos] ^ mask})
}

// encoding is the stored msgpack encoding of r.
func encoding(t testing.TB, r *messages.Record) []byte {
	t.Helper()
	b, err := messages.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkNeverWrong reads every record of want with Read and ReadRaw and fails
// if either returns anything but the right record or ErrCorrupt. It returns
// the offsets that read as ErrCorrupt.
func checkNeverWrong(t *testing.T, l *Log, want []*messages.Record, checkRaw bool) map[uint64]bool {
	t.Helper()
	bad := map[uint64]bool{}
	for _, w := range want {
		got, err := l.Read(w.Offset)
		switch {
		case errors.Is(err, ErrCorrupt):
			bad[w.Offset] = true
		case err != nil:
			t.Fatalf("read %d: %v, want the record or ErrCorrupt", w.Offset, err)
		default:
			checkRecord(t, got, w)
		}
		if !checkRaw {
			continue
		}
		raw, n, err := l.ReadRaw(w.Offset, 1, 1<<20, nil)
		switch {
		case errors.Is(err, ErrCorrupt):
			if !bad[w.Offset] {
				t.Fatalf("read raw %d: %v, but Read returns it", w.Offset, err)
			}
		case err != nil:
			t.Fatalf("read raw %d: %v, want the record or ErrCorrupt", w.Offset, err)
		case n != 1 || !bytes.Equal(raw, encoding(t, w)):
			t.Fatalf("read raw %d: %d records %q, want %q", w.Offset, n, raw, encoding(t, w))
		}
	}
	return bad
}

// TestCorruptStore flips a bit in a stored record and checks that the
// record reads as ErrCorrupt, and only it, with the log open and after a
// reopen. The log holds [0 1 2] [3 4 5] [6 7 8].
func TestCorruptStore(t *testing.T) {
	fs := frameSize(t, value(0), 0)
	where := []struct {
		name string
		pos  int
		mask byte
	}{
		{"length low bit", 3, 0x01},
		{"length high bit", 0, 0x80},
		{"checksum", 5, 0x04},
		{"first payload byte", frame.HeaderSize, 0x01},
		{"payload middle", frame.HeaderSize + (fs-frame.HeaderSize)/2, 0x20},
		{"last payload byte", fs - 1, 0x80},
	}
	records := []struct {
		name   string
		offset uint64
		// recoveredAs is what a reopen reports: the damaged last frame of a
		// sealed segment is left in place, the rest goes unnoticed.
		damagedTail bool
	}{
		{"first of a sealed segment", 3, false},
		{"middle of a sealed segment", 1, false},
		{"last of a sealed segment", 5, true},
		{"middle of the active segment", 7, false},
	}
	for _, rec := range records {
		for _, w := range where {
			for _, reopen := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/reopen=%v", rec.name, w.name, reopen)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					dir := t.TempDir()
					c := quietConfig(uint64(3*fs), 0)
					l := openLog(t, dir, c)
					want := appendN(t, l, 9)
					store := files(t, dir, storeSuffix)[rec.offset/3]
					pos := frames(t, store)[rec.offset%3].pos + w.pos
					if reopen {
						closeLog(t, l)
					}
					flipBit(t, store, int64(pos), w.mask)
					if reopen {
						l = openLog(t, dir, c)
						r := l.Recovered()
						switch {
						case !rec.damagedTail && len(r) != 0:
							t.Fatalf("recovered %+v", r)
						case rec.damagedTail && (len(r) != 1 || r[0].DamagedBytes != uint64(fs) ||
							r[0].Records != 2 || r[0].TruncatedBytes != 0):
							t.Fatalf("recovered %+v, want a damaged tail of %d bytes", r, fs)
						}
					}
					bad := checkNeverWrong(t, l, want, true)
					if len(bad) != 1 || !bad[rec.offset] {
						t.Fatalf("corrupt offsets %v, want only %d", bad, rec.offset)
					}
					// A raw read over the damaged record fails rather than
					// return it; one that stops before it succeeds.
					if _, _, err := l.ReadRaw(rec.offset, 10, 1<<20, nil); !errors.Is(err, ErrCorrupt) {
						t.Fatalf("raw read from the damaged record: %v", err)
					}
					if rec.offset%3 > 0 {
						from := rec.offset - rec.offset%3
						raw, n, err := l.ReadRaw(from, 10, 1<<20, nil)
						if err == nil && (n > int(rec.offset-from) || !bytes.HasPrefix(encodings(t, want[from:]), raw)) {
							t.Fatalf("raw read from %d returned %d records, the damaged one among them", from, n)
						}
						if err != nil && !errors.Is(err, ErrCorrupt) {
							t.Fatalf("raw read from %d: %v", from, err)
						}
					}
					// The log goes on.
					want = append(want, appendN(t, l, 1)...)
					checkReadAll(t, l, want[rec.offset+1:])
				})
			}
		}
	}
}

func encodings(t testing.TB, recs []*messages.Record) []byte {
	t.Helper()
	var b []byte
	for _, r := range recs {
		b = append(b, encoding(t, r)...)
	}
	return b
}

// TestCorruptIndex damages entries of a sealed segment's index so that
// they point elsewhere in the store. The damaged record must read as
// ErrCorrupt, never as another record or an I/O error. The log holds
// [0 1 2 3 4] [5 6 7 8 9] [10 11], and the entries are those of 5..9.
func TestCorruptIndex(t *testing.T) {
	fs := frameSize(t, value(0), 0)
	tests := []struct {
		name string
		// positions to write into entries 1, 2, ... of the index, given
		// the frames' positions p; nil entries are left alone.
		entries func(p []uint64) []*uint64
		// mustFail is the offset that must read as ErrCorrupt.
		mustFail uint64
		// checkRaw is false where ReadRaw, which does not decode, cannot
		// tell the damage: the entries frame another intact record.
		checkRaw bool
	}{
		{"points at the next frame", func(p []uint64) []*uint64 { return []*uint64{&p[2]} }, 6, true},
		{"points at the previous frame", func(p []uint64) []*uint64 { return []*uint64{&p[0]} }, 6, true},
		{"points inside its frame", func(p []uint64) []*uint64 { return []*uint64{ptr(p[1] + 3)} }, 6, true},
		{"points past the store", func(p []uint64) []*uint64 { return []*uint64{ptr(1 << 30)} }, 6, true},
		{"points at the largest position", func(p []uint64) []*uint64 { return []*uint64{ptr(1<<63 - 1)} }, 6, true},
		{"position wraps around", func(p []uint64) []*uint64 { return []*uint64{ptr(^uint64(0) - 3)} }, 6, true},
		{"two entries shifted by a frame", func(p []uint64) []*uint64 { return []*uint64{&p[2], &p[3]} }, 6, false},
		{"three entries shifted to the end", func(p []uint64) []*uint64 { return []*uint64{&p[2], &p[3], &p[4]} }, 6, false},
	}
	for _, tt := range tests {
		for _, reopen := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/reopen=%v", tt.name, reopen), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				c := quietConfig(uint64(5*fs), 0)
				l := openLog(t, dir, c)
				want := appendN(t, l, 12)
				store, index := files(t, dir, storeSuffix)[1], files(t, dir, indexSuffix)[1]
				var p []uint64
				for _, f := range frames(t, store) {
					p = append(p, uint64(f.pos))
				}
				if reopen {
					closeLog(t, l)
				}
				for i, pos := range tt.entries(p) {
					if pos != nil {
						patchFile(t, index, int64((i+1)*entryWidth+4), binary.BigEndian.AppendUint64(nil, *pos))
					}
				}
				if reopen {
					l = openLog(t, dir, c)
					if r := l.Recovered(); len(r) != 0 {
						// Entries other than the first and last are not
						// checked at reopen; that is what this test is about.
						t.Fatalf("recovered %+v", r)
					}
				}
				bad := checkNeverWrong(t, l, want, tt.checkRaw)
				if !bad[tt.mustFail] {
					t.Fatalf("damaged entry of %d read without error", tt.mustFail)
				}
				for off := range bad {
					if off < 5 || off > 9 {
						t.Fatalf("offset %d outside the damaged segment reads as corrupt", off)
					}
				}
			})
		}
	}
}

func ptr(v uint64) *uint64 { return &v }
