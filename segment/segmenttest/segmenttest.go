package segmenttest

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/evlog/evlog/segment/internal/frame"
)

// File name suffixes of a segment's store and index, and the width of the
// zero-padded base offset that names them, as the segment package writes
// them.
const (
	StoreSuffix = ".store"
	IndexSuffix = ".index"
	baseDigits  = 20
)

// Segment is a segment's base offset and the paths of its files.
type Segment struct {
	Base  uint64
	Store string
	Index string
}

// BaseOf returns the base offset that names a segment file (a store or an
// index, with or without a directory), and false for a name the log would
// ignore.
func BaseOf(name string) (uint64, bool) {
	name = filepath.Base(name)
	stem, ok := strings.CutSuffix(name, StoreSuffix)
	if !ok {
		stem, ok = strings.CutSuffix(name, IndexSuffix)
	}
	if !ok || len(stem) != baseDigits {
		return 0, false
	}
	base, err := strconv.ParseUint(stem, 10, 64)
	return base, err == nil
}

// Segments lists the segments in dir by their stores, oldest first, as the
// log opens them.
func Segments(tb testing.TB, dir string) []Segment {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var segs []Segment
	for _, e := range entries {
		base, ok := BaseOf(e.Name())
		if !ok || e.IsDir() || !strings.HasSuffix(e.Name(), StoreSuffix) {
			continue
		}
		stem := strings.TrimSuffix(e.Name(), StoreSuffix)
		segs = append(segs, Segment{
			Base:  base,
			Store: filepath.Join(dir, e.Name()),
			Index: filepath.Join(dir, stem+IndexSuffix),
		})
	}
	slices.SortFunc(segs, func(a, b Segment) int { return cmp.Compare(a.Base, b.Base) })
	return segs
}

// Frame is where one frame lies in a store: the record at the segment's
// base plus its number.
type Frame struct {
	// Pos is the position of the frame's header.
	Pos int64
	// Size is the frame's length, header included.
	Size int64
}

// End is the position after the frame.
func (f Frame) End() int64 { return f.Pos + f.Size }

// Frames returns the intact frames of the store at path up to the first
// one that is not, exactly those that recovery keeps of an active store,
// and the store's size without the zeros at its end: those are free
// space, which an active store is preallocated with, and not part of a
// torn tail. Whatever lies between the last frame's end and the size is
// the torn tail that recovery cuts.
func Frames(tb testing.TB, path string) (frames []Frame, size int64) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	sc, err := frame.Scan(f, uint64(fi.Size()))
	positions, end := sc.Positions, sc.End
	if err != nil {
		tb.Fatalf("scan %s: %v", path, err)
	}
	for i, p := range positions {
		next := end
		if i+1 < len(positions) {
			next = positions[i+1]
		}
		frames = append(frames, Frame{Pos: int64(p), Size: int64(next - p)})
	}
	return frames, withoutFreeSpace(tb, f, int64(max(end, sc.PendingEnd)), fi.Size())
}

// withoutFreeSpace returns the end of the last byte of f at or after from
// that is not zero, or from: the size of a store of that size without its
// free space.
func withoutFreeSpace(tb testing.TB, f *os.File, from, size int64) int64 {
	tb.Helper()
	if from >= size {
		return size
	}
	b := make([]byte, size-from)
	if _, err := f.ReadAt(b, from); err != nil {
		tb.Fatalf("read %s: %v", f.Name(), err)
	}
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return from + int64(n)
}

// TornTail returns how many bytes recovery cuts from the store at path
// if its segment is the active one: everything after its intact frames.
func TornTail(tb testing.TB, path string) int64 {
	tb.Helper()
	frames, size := Frames(tb, path)
	if len(frames) == 0 {
		return size
	}
	return size - frames[len(frames)-1].End()
}
