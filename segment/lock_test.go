package segment

import (
	"errors"
	"testing"
)

// TestDirectoryLock: a second NewLog on a directory that a log holds open
// is refused, as is Check, until the first log closes.
func TestDirectoryLock(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, quietConfig(1<<20, 100*entryWidth))
	appendN(t, l, 3)
	if l2, err := NewLog(dir, quietConfig(1<<20, 100*entryWidth)); !errors.Is(err, ErrLocked) {
		if err == nil {
			l2.Close()
		}
		t.Fatalf("second NewLog on a locked dir: %v, want ErrLocked", err)
	}
	if _, err := Check(dir, CheckOptions{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("Check of a locked dir: %v, want ErrLocked", err)
	}
	closeLog(t, l)
	l2 := openLog(t, dir, quietConfig(1<<20, 100*entryWidth))
	if got := l2.NextOffset(); got != 3 {
		t.Fatalf("reopened after the lock was released: next offset %d, want 3", got)
	}
}

// TestNilRecordInBatch: a nil record fails the batch with an error instead
// of a panic, and appends nothing.
func TestNilRecordInBatch(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig(1<<20, 100*entryWidth))
	recs := appendable(3)
	recs[1] = nil
	if _, err := l.AppendBatch(recs); err == nil {
		t.Fatal("a batch with a nil record was accepted")
	}
	if got := l.NextOffset(); got != 0 {
		t.Fatalf("next offset %d after a refused batch, want 0", got)
	}
}
