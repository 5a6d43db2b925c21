package segment

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/evlog/evlog/messages"
)

// failWrites makes every store write a short write followed by err, as a
// file system that runs out of space midway gives, until the test ends
// or the returned function is called.
func failWrites(t *testing.T, err error) (restore func()) {
	t.Helper()
	writeAt = func(f *os.File, b []byte, off int64) (int, error) {
		n, werr := f.WriteAt(b[:len(b)/2], off)
		if werr != nil {
			return n, werr
		}
		return n, err
	}
	// A write through the mapping fails halfway too, as a disk that
	// faults on a page does.
	writeMapped = func(dst, src []byte) error {
		copy(dst, src[:len(src)/2])
		return err
	}
	restore = func() { writeAt, writeMapped = (*os.File).WriteAt, copyToMapping }
	t.Cleanup(restore)
	return restore
}

// failSyncs makes every store sync fail with err until the test ends or
// the returned function is called.
func failSyncs(t *testing.T, err error) (restore func()) {
	t.Helper()
	syncFile = func(*os.File) error { return err }
	restore = func() { syncFile = fdatasync }
	t.Cleanup(restore)
	return restore
}

// checkValues reads every record of recs back from l.
func checkValues(t *testing.T, l *Log, recs []*messages.Record) {
	t.Helper()
	for _, want := range recs {
		got, err := l.Read(want.Offset)
		if err != nil {
			t.Fatalf("read %d: %v", want.Offset, err)
		}
		if !bytes.Equal(got.Value, want.Value) {
			t.Fatalf("read %d: %q, want %q", want.Offset, got.Value, want.Value)
		}
	}
}

// TestWriteErrorLeavesLogUnchanged fails a store write halfway, as a full
// disk does: the append must fail, none of the batch may be in the log or
// its file, and once the fault clears the log appends at the same offset
// without a reopen, and reopens with nothing to repair.
func TestWriteErrorLeavesLogUnchanged(t *testing.T) {
	dir := t.TempDir()
	c := testConfig(4096, 12*64)
	l := openLog(t, dir, c)
	recs := appendN(t, l, 50) // several segments
	next := l.NextOffset()
	active := l.active().store.name
	fi, err := os.Stat(active)
	if err != nil {
		t.Fatal(err)
	}

	restore := failWrites(t, syscall.ENOSPC)
	batch := []*messages.Record{{Value: []byte("lost 1")}, {Value: []byte("lost 2")}}
	if _, err := l.AppendBatch(batch); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", err)
	}
	if l.NextOffset() != next {
		t.Fatalf("next offset %d after a failed write, want %d", l.NextOffset(), next)
	}
	if after, err := os.Stat(active); err != nil || after.Size() != fi.Size() {
		t.Fatalf("store is %d bytes after a failed write, was %d (%v)", after.Size(), fi.Size(), err)
	}
	checkValues(t, l, recs)

	restore()
	recs = append(recs, appendValues(t, l, []byte("after the fault"))...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, c)
	if rec := l.Recovered(); len(rec) != 0 {
		t.Errorf("reopen repaired %+v", rec)
	}
	checkValues(t, l, recs)
}

// TestSyncErrorFailsLog fails a sync. After a failed fdatasync the kernel
// may have dropped the pages it could not write, so the log must refuse
// every later append, even once syncs would succeed again, while reads of
// what was synced go on; a reopen starts afresh from what the files hold.
func TestSyncErrorFailsLog(t *testing.T) {
	dir := t.TempDir()
	c := testConfig(4096, 12*64)
	l := openLog(t, dir, c)
	recs := appendN(t, l, 50)

	restore := failSyncs(t, syscall.EIO)
	if _, err := l.Append(&messages.Record{Value: []byte("unknown")}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with a failing sync: %v, want EIO", err)
	}
	restore()
	if _, err := l.Append(&messages.Record{Value: []byte("refused")}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append after a failed sync: %v, want the sync's EIO", err)
	}
	if err := l.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync after a failed sync: %v, want EIO", err)
	}
	checkValues(t, l, recs)
	if err := l.Close(); err != nil {
		t.Fatalf("close after a failed sync: %v", err)
	}

	// The record whose sync failed may or may not be there; everything
	// before it is, and offsets go on from whatever the files hold.
	l = openLog(t, dir, c)
	checkValues(t, l, recs)
	if next := l.NextOffset(); next != uint64(len(recs)) && next != uint64(len(recs))+1 {
		t.Fatalf("reopened at %d, want %d or %d", next, len(recs), len(recs)+1)
	}
	appendValues(t, l, []byte("after reopening"))
}

// TestRollSyncErrorFailsLog fails the sync with which a roll seals the
// full segment, once: Linux reports a writeback error to one fdatasync
// and lets the next succeed, though the pages it could not write may be
// gone. Records written before the roll and not yet synced, as a
// server's appends are until its group commit, must then never be
// acknowledged: Sync must keep failing, as after any failed sync.
func TestRollSyncErrorFailsLog(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig(4096, 12*64))
	appendN(t, l, 3)
	if _, err := l.AppendUnsynced([]*messages.Record{{Value: []byte("written, not synced")}}); err != nil {
		t.Fatal(err)
	}
	failed := false
	syncFile = func(f *os.File) error {
		if !failed {
			failed = true
			return syscall.EIO
		}
		return fdatasync(f)
	}
	t.Cleanup(func() { syncFile = fdatasync })
	// Too large for what is left of the segment: the log rolls.
	big := &messages.Record{Value: bytes.Repeat([]byte{'x'}, 3900)}
	if _, err := l.AppendUnsynced([]*messages.Record{big}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append that rolls with a failing sync: %v, want EIO", err)
	}
	if err := l.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync after the roll's sync failed: %v, want EIO: the record written before it may be lost", err)
	}
	if _, err := l.Append(&messages.Record{Value: []byte("refused")}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append after a failed sync: %v, want EIO", err)
	}
	// Every one of them says the log failed, so that a server can tell a
	// log that refuses appends for good from a failed request.
	if _, err := l.Append(&messages.Record{Value: []byte("refused")}); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after a failed sync: %v, want ErrFailed", err)
	}
	if err := l.Sync(); !errors.Is(err, ErrFailed) {
		t.Fatalf("sync after a failed sync: %v, want ErrFailed", err)
	}
}
