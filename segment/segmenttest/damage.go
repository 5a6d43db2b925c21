package segmenttest

import (
	"os"
	"testing"
)

// edit rewrites the file at path with what change makes of its bytes.
func edit(tb testing.TB, path string, change func(b []byte) []byte) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, change(b), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// FlipBits XORs the byte at pos of the file at path with mask.
func FlipBits(tb testing.TB, path string, pos int64, mask byte) {
	tb.Helper()
	edit(tb, path, func(b []byte) []byte {
		if pos < 0 || pos >= int64(len(b)) {
			tb.Fatalf("flip byte %d of %s, which has %d bytes", pos, path, len(b))
		}
		b[pos] ^= mask
		return b
	})
}

// FlipRecordBit flips the lowest bit of the last byte of record n of the
// store at path, counted from its segment's base: the frame stays whole
// but fails its CRC.
func FlipRecordBit(tb testing.TB, path string, n int) {
	tb.Helper()
	frames, _ := Frames(tb, path)
	if n < 0 || n >= len(frames) {
		tb.Fatalf("record %d of %s, which holds %d intact records", n, path, len(frames))
	}
	FlipBits(tb, path, frames[n].End()-1, 0x01)
}

// Zero zeroes the bytes [from, to) of the file at path, up to its end.
func Zero(tb testing.TB, path string, from, to int64) {
	tb.Helper()
	edit(tb, path, func(b []byte) []byte {
		if from < 0 || from > to || from > int64(len(b)) {
			tb.Fatalf("zero [%d, %d) of %s, which has %d bytes", from, to, path, len(b))
		}
		clear(b[from:min(to, int64(len(b)))])
		return b
	})
}

// Cut cuts the file at path to size bytes, as a crash may leave it.
func Cut(tb testing.TB, path string, size int64) {
	tb.Helper()
	if err := os.Truncate(path, size); err != nil {
		tb.Fatal(err)
	}
}
