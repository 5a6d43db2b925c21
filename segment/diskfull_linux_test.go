//go:build linux

package segment

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/evlog/evlog/messages"
)

// mountTmpfs mounts a tmpfs of size (such as "1m") on a new directory and
// unmounts it when the test ends. It skips the test where mounting is not
// allowed.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("a small tmpfs is needed to fill a file system (mount needs root or CAP_SYS_ADMIN): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillUp writes a file in dir until the file system is full, then gives
// back free bytes of it (a multiple of the page size). It returns the
// file's path.
func fillUp(t *testing.T, dir string, free int64) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{0xff}, 64<<10)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
	if err := f.Truncate(max(n-free, 0)); err != nil {
		t.Fatalf("free %d bytes: %v", free, err)
	}
	return name
}

// TestIndexOnFullDisk appends to a fresh segment on a file system with one
// free page. The index entry, and the record in an active store, are
// writes through a memory mapping, which on a hole of a full file system
// cannot return an error: the kernel sends SIGBUS and the process dies.
// The index and the store must therefore own their blocks before they are
// mapped, and the log must report the full disk as an error instead: here
// when the filled segment rolls and the next one cannot be preallocated.
func TestIndexOnFullDisk(t *testing.T) {
	mnt := mountTmpfs(t, "1m")
	dir := filepath.Join(mnt, "log")
	c := testConfig(64<<10, 3*4096) // an index of three pages
	l := openLog(t, dir, c)
	filler := fillUp(t, mnt, int64(os.Getpagesize()))

	var acked []*messages.Record
	var err error
	// The preallocated store takes about a thousand records.
	for i := 0; i < 100_000 && err == nil; i++ {
		r := &messages.Record{Value: value(i)}
		if _, err = l.Append(r); err == nil {
			acked = append(acked, r)
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("appending to a full disk: %v, want ENOSPC", err)
	}
	if l.NextOffset() != uint64(len(acked)) {
		t.Fatalf("next offset %d after a failed append, %d acknowledged", l.NextOffset(), len(acked))
	}
	t.Logf("%d records acknowledged; then: %v", len(acked), err)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	acked = append(acked, appendValues(t, l, []byte("after space came back"))...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, c)
	defer l.Close()
	if rec := l.Recovered(); len(rec) != 0 {
		t.Errorf("reopen after a clean close repaired %+v", rec)
	}
	for _, want := range acked {
		got, err := l.Read(want.Offset)
		if err != nil {
			t.Fatalf("read %d: %v", want.Offset, err)
		}
		if !bytes.Equal(got.Value, want.Value) {
			t.Fatalf("read %d: %q, want %q", want.Offset, got.Value, want.Value)
		}
	}
}
