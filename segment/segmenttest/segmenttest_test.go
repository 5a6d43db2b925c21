package segmenttest_test

import (
	"errors"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/segmenttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestAgreesWithTheLog writes a log of several segments with the segment
// package, then checks that segmenttest finds its segments, frames and
// torn tails where the log puts them.
func TestAgreesWithTheLog(t *testing.T) {
	dir := t.TempDir()
	var c segment.Config
	c.Segment.MaxIndexBytes = 3 * 12 // three records a segment
	l, err := segment.NewLog(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if _, err := l.Append(&messages.Record{Value: fmt.Appendf(nil, "value %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segmenttest.Segments(t, dir)
	if len(segs) != 3 || segs[0].Base != 0 || segs[1].Base != 3 || segs[2].Base != 6 {
		t.Fatalf("segments %+v, want bases 0, 3, 6", segs)
	}
	if base, ok := segmenttest.BaseOf(segs[1].Index); !ok || base != 3 {
		t.Fatalf("BaseOf(%s) = %d, %v", segs[1].Index, base, ok)
	}
	for _, name := range []string{"7.store", "00000000000000000007.log", "0000000000000000000x.store"} {
		if _, ok := segmenttest.BaseOf(name); ok {
			t.Fatalf("BaseOf(%q) accepted a name the log ignores", name)
		}
	}
	frames, size := segmenttest.Frames(t, segs[1].Store)
	if len(frames) != 3 || frames[0].Pos != 0 || frames[2].End() != size {
		t.Fatalf("frames %+v of a %d-byte store, want 3 filling it", frames, size)
	}

	// A cut inside record 6, the only record of the active segment, is
	// a torn tail of that record's bytes.
	active := segs[2].Store
	frames, _ = segmenttest.Frames(t, active)
	segmenttest.Cut(t, active, frames[0].Size-1)
	if got := segmenttest.TornTail(t, active); got != frames[0].Size-1 {
		t.Fatalf("torn tail %d, want %d", got, frames[0].Size-1)
	}
	// Damage inside sealed segments, whose indexes stay trusted: a flipped
	// bit makes a record read as corrupt, and a zeroed header ends the
	// frames there.
	segmenttest.FlipRecordBit(t, segs[1].Store, 1)
	first, _ := segmenttest.Frames(t, segs[0].Store)
	segmenttest.Zero(t, segs[0].Store, first[1].Pos, first[1].Pos+4)
	if frames, _ := segmenttest.Frames(t, segs[0].Store); len(frames) != 1 {
		t.Fatalf("%d frames before a zeroed header, want 1", len(frames))
	}
	l, err = segment.NewLog(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if rec := l.Recovered(); len(rec) != 1 || rec[0].TruncatedBytes != uint64(frames[0].Size-1) {
		t.Fatalf("recovered %+v, want the predicted torn tail cut", rec)
	}
	if _, err := l.Read(4); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("read of the flipped record: %v, want ErrCorrupt", err)
	}
}
