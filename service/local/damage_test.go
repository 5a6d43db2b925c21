package local

import (
	"errors"
	"testing"

	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/segmenttest"
	"github.com/evlog/evlog/service"
)

// TestReadRawBatchDamage: the segment log's damage comes through: a batch
// that a damaged record ends names it, and a read of the damaged record is
// an error that errors.As finds as a *segment.DamageError.
func TestReadRawBatchDamage(t *testing.T) {
	dir := t.TempDir()
	seg, err := segment.NewLog(dir, segment.Config{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(seg, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Attach(func(service.Commit) {}); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(app("a", "b", "c", "d")); err != nil {
		t.Fatal(err)
	}
	l.Detach()
	if err := errors.Join(l.Close(), seg.Close()); err != nil {
		t.Fatal(err)
	}
	segmenttest.FlipRecordBit(t, segmenttest.Segments(t, dir)[0].Store, 2)

	var reported []*segment.DamageError
	seg, err = segment.NewLog(dir, segment.Config{OnDamage: func(d *segment.DamageError) { reported = append(reported, d) }})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	l, err = New(seg, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := l.ReadRawBatch(0, 4, 1<<20, nil)
	if err != nil || b.N != 2 || b.Damage == nil || b.Damage.Offset != 2 {
		t.Fatalf("batch from 0: %d records, damage %v, err %v; want 2 records and damage at 2", b.N, b.Damage, err)
	}
	_, err = l.ReadRawBatch(2, 4, 1<<20, nil)
	var d *segment.DamageError
	if !errors.As(err, &d) || d.Offset != 2 || !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("read of the damaged record: %v", err)
	}
	if len(reported) != 1 || reported[0].Offset != 2 {
		t.Fatalf("OnDamage got %v, want offset 2 once", reported)
	}
}
