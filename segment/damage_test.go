package segment

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/evlog/evlog/segment/segmenttest"
)

// damageLog is a log of [0 1 2] [3 4 5] [6 7 8] whose files damage has
// changed while it was closed, opened again with OnDamage recording what
// it is told.
type damageLog struct {
	*Log
	mu       sync.Mutex
	reported []DamageError
}

func openDamaged(t *testing.T, damage func(segs []segmenttest.Segment)) (*damageLog, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	c := quietConfig(0, 3*entryWidth)
	l := openLog(t, dir, c)
	want := appendN(t, l, 9)
	closeLog(t, l)
	damage(segmenttest.Segments(t, dir))
	dl := &damageLog{}
	c.OnDamage = func(d *DamageError) {
		dl.mu.Lock()
		defer dl.mu.Unlock()
		dl.reported = append(dl.reported, *d)
	}
	dl.Log = openLog(t, dir, c)
	encs := make([][]byte, len(want))
	for i, w := range want {
		encs[i] = encoding(t, w)
	}
	return dl, encs
}

func (dl *damageLog) reports() []DamageError {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	return append([]DamageError(nil), dl.reported...)
}

// checkDamage fails unless err is the DamageError of the record at offset
// of the segment at base.
func checkDamage(t *testing.T, what string, err error, base, offset uint64) {
	t.Helper()
	var d *DamageError
	if !errors.As(err, &d) || d.Segment != base || d.Offset != offset || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: %v, want the damage of record %d of segment %d, matching ErrCorrupt", what, err, offset, base)
	}
}

// TestDamageReported flips a bit in the middle record of a sealed segment
// and reads around it: the read of the record names its segment and
// offset, a batch that runs into it ends before it and says so, and
// OnDamage hears of it once however often it is read, and never of a
// clean read.
func TestDamageReported(t *testing.T) {
	l, encs := openDamaged(t, func(segs []segmenttest.Segment) {
		segmenttest.FlipRecordBit(t, segs[1].Store, 1) // offset 4
	})
	defer closeLog(t, l.Log)

	for off := uint64(0); off < 9; off++ {
		if off == 4 {
			continue
		}
		if _, err := l.Read(off); err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
	}
	for _, from := range []uint64{0, 5, 6} {
		if b, err := l.ReadRawBatch(from, 10, 1<<20, nil); err != nil || b.Damage != nil {
			t.Fatalf("raw batch from %d: %+v, %v; want no damage", from, b, err)
		}
	}
	// The limit ends this batch before the damaged record is reached.
	if b, err := l.ReadRawBatch(3, 1, 1<<20, nil); err != nil || b.N != 1 || b.Damage != nil {
		t.Fatalf("raw batch of one from 3: %+v, %v; want record 3 and no damage", b, err)
	}
	if r := l.reports(); len(r) != 0 {
		t.Fatalf("clean reads reported damage: %+v", r)
	}

	for range 3 {
		_, err := l.Read(4)
		checkDamage(t, "read 4", err, 3, 4)
		b, err := l.ReadRawBatch(4, 10, 1<<20, nil)
		checkDamage(t, "raw batch from 4", err, 3, 4)
		if b.N != 0 || len(b.Records) != 0 {
			t.Fatalf("raw batch from 4 returned %d records", b.N)
		}
		b, err = l.ReadRawBatch(3, 10, 1<<20, nil)
		if err != nil || b.N != 1 || !bytes.Equal(b.Records, encs[3]) {
			t.Fatalf("raw batch from 3: %d records %q, %v; want record 3", b.N, b.Records, err)
		}
		checkDamage(t, "raw batch from 3 ended by", b.Damage, 3, 4)
		// ReadRaw returns the same records and, as before, no error.
		raw, n, err := l.ReadRaw(3, 10, 1<<20, nil)
		if err != nil || n != 1 || !bytes.Equal(raw, encs[3]) {
			t.Fatalf("raw from 3: %d records, %v; want record 3", n, err)
		}
	}
	if r := l.reports(); len(r) != 1 || r[0].Segment != 3 || r[0].Offset != 4 || !errors.Is(r[0].Err, ErrCorrupt) {
		t.Fatalf("reported %+v, want record 4 of segment 3, once", r)
	}
}

// TestDamageReportedOnceConcurrently reads a damaged record from many
// goroutines at once: OnDamage still hears of it once.
func TestDamageReportedOnceConcurrently(t *testing.T) {
	l, _ := openDamaged(t, func(segs []segmenttest.Segment) {
		segmenttest.FlipRecordBit(t, segs[0].Store, 1) // offset 1
	})
	defer closeLog(t, l.Log)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := l.Read(1); !errors.Is(err, ErrCorrupt) {
					t.Errorf("read 1: %v, want ErrCorrupt", err)
					return
				}
				l.ReadRaw(0, 3, 1<<20, nil)
			}
		})
	}
	wg.Wait()
	if r := l.reports(); len(r) != 1 || r[0].Offset != 1 {
		t.Fatalf("reported %+v, want record 1 once", r)
	}
}

// TestDamagedTailReported damages the last record of a sealed segment,
// which recovery leaves in place as the segment's damaged tail: a batch
// that reaches the tail says it ended there, and a read in it names the
// segment.
func TestDamagedTailReported(t *testing.T) {
	l, _ := openDamaged(t, func(segs []segmenttest.Segment) {
		segmenttest.FlipRecordBit(t, segs[1].Store, 2) // offset 5
	})
	defer closeLog(t, l.Log)
	if rec := l.Recovered(); len(rec) != 1 || rec[0].DamagedBytes == 0 {
		t.Fatalf("recovered %+v, want the damaged tail of segment 3 left in place", rec)
	}
	b, err := l.ReadRawBatch(3, 10, 1<<20, nil)
	if err != nil || b.N != 2 {
		t.Fatalf("raw batch from 3: %d records, %v; want 3 and 4", b.N, err)
	}
	checkDamage(t, "raw batch from 3 ended by", b.Damage, 3, 5)
	_, err = l.Read(5)
	checkDamage(t, "read 5", err, 3, 5)
	_, err = l.ReadRawBatch(5, 10, 1<<20, nil)
	checkDamage(t, "raw batch from 5", err, 3, 5)
	if r := l.reports(); len(r) != 1 || r[0].Segment != 3 || r[0].Offset != 5 {
		t.Fatalf("reported %+v, want record 5 of segment 3, once", r)
	}
	// The next segment reads as before.
	if b, err := l.ReadRawBatch(6, 10, 1<<20, nil); err != nil || b.N != 3 || b.Damage != nil {
		t.Fatalf("raw batch from 6: %+v, %v", b, err)
	}
}

// TestDamageSeenBounded fills the set of reported records past its bound:
// it stays at the bound by forgetting the oldest, which may be reported
// again, while the newest are still known.
func TestDamageSeenBounded(t *testing.T) {
	var d damageSeen
	for i := range uint64(maxDamageSeen + 10) {
		if !d.add(damageKey{0, i}) {
			t.Fatalf("record %d reported as seen before", i)
		}
	}
	if len(d.seen) != maxDamageSeen || len(d.order) != maxDamageSeen {
		t.Fatalf("%d records remembered (%d in order), want %d", len(d.seen), len(d.order), maxDamageSeen)
	}
	if d.add(damageKey{0, maxDamageSeen + 9}) || d.add(damageKey{0, 10}) {
		t.Fatal("a recent record reported as new")
	}
	if !d.add(damageKey{0, 0}) {
		t.Fatal("the oldest record is still remembered past the bound")
	}
	if !d.add(damageKey{1, 0}) {
		t.Fatal("a record of another segment with the same offset counted as seen")
	}
}

// TestCleanReadAllocatesNoDamageReport keeps the damage report off the
// read path: with OnDamage set, reading an intact record allocates what
// Read returns (the record and its value) and nothing more.
func TestCleanReadAllocatesNoDamageReport(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what allocates")
	}
	l, _ := openDamaged(t, func([]segmenttest.Segment) {})
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := l.Read(4); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Fatalf("a clean read allocates %.0f times, want at most 2", allocs)
	}
	if len(l.reported) != 0 {
		t.Fatalf("clean reads reported damage: %+v", l.reported)
	}
}
