package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/snapshot"
)

// openLog opens the log in dir for a test, closed at cleanup.
func openLog(t *testing.T, dir string) *segment.Log {
	t.Helper()
	var c segment.Config
	c.Sync.Mode = segment.SyncNever
	l, err := segment.NewLog(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// snapshotFile writes the snapshot of [first, next) of the log in dir to
// a file and returns its path.
func snapshotFile(t *testing.T, dir string, first, next uint64) string {
	t.Helper()
	l := openLog(t, dir)
	var buf bytes.Buffer
	if _, err := snapshot.WriteLog(&buf, l, snapshot.Header{LogID: l.ID(), First: first, Next: next}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "snap")
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// records returns every record of the log in dir, and its next offset.
func records(t *testing.T, dir string) ([]*messages.Record, uint64) {
	t.Helper()
	l := openLog(t, dir)
	var recs []*messages.Record
	err := snapshot.ScanLog(l, l.Stats().LowestOffset, l.NextOffset(), func(_ []byte, r *messages.Record) error {
		c := *r
		recs = append(recs, &c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	next := l.NextOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return recs, next
}

func TestRestoreRoundTrip(t *testing.T) {
	src, _ := writeLog(t, 40)
	want, _ := records(t, src)
	snap := snapshotFile(t, src, 0, 40)
	dst := filepath.Join(t.TempDir(), "restored")
	out, progress, err := cliStreams(t, "", "restore", "--in", snap, "--dir", dst)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress, "verified ") || !strings.Contains(progress, "restored ") || !strings.Contains(progress, "(100%)") {
		t.Errorf("progress on a pipe %q lacks plain lines for both passes", progress)
	}
	if !strings.Contains(out, "restored 40 records (offsets 0-39)") {
		t.Errorf("summary %q", out)
	}
	got, next := records(t, dst)
	if !reflect.DeepEqual(got, want) || next != 40 {
		t.Fatalf("restored %d records, next %d; want the 40 of the source", len(got), next)
	}
	l := openLog(t, dst)
	if off, err := l.Append(&messages.Record{Value: []byte("after")}); err != nil || off != 40 {
		t.Fatalf("append after restore: offset %d, %v; want 40", off, err)
	}
	if src := openLog(t, src); l.ID() != src.ID() {
		t.Fatalf("restored log id %s, want the source's %s", l.ID(), src.ID())
	}
}

func TestRestoreIncrements(t *testing.T) {
	src, _ := writeLog(t, 60)
	want, _ := records(t, src)
	base, inc, late := snapshotFile(t, src, 0, 30), snapshotFile(t, src, 30, 60), snapshotFile(t, src, 40, 60)
	dst := t.TempDir()
	if _, _, err := cliStreams(t, "", "restore", "--in", base, "--dir", dst); err != nil {
		t.Fatal(err)
	}
	_, _, err := cliStreams(t, "", "restore", "--in", late, "--dir", dst, "--append")
	if err == nil || !strings.Contains(err.Error(), "starts at offset 40 but the log's next offset is 30") {
		t.Fatalf("increment from 40 onto a log ending at 30: %v", err)
	}
	// An increment of another log, even one that starts where this one
	// ends, is refused by its log id.
	other, _ := writeLog(t, 60)
	foreign := snapshotFile(t, other, 30, 60)
	_, _, err = cliStreams(t, "", "restore", "--in", foreign, "--dir", dst, "--append")
	if err == nil || !strings.Contains(err.Error(), "the increment is of log") {
		t.Fatalf("increment of another log: %v", err)
	}
	if _, _, err := cliStreams(t, "", "restore", "--in", inc, "--dir", dst, "--append"); err != nil {
		t.Fatal(err)
	}
	got, next := records(t, dst)
	if !reflect.DeepEqual(got, want) || next != 60 {
		t.Fatalf("restored %d records, next %d; want the 60 of the source", len(got), next)
	}

	// A snapshot that starts past 0 restores at its own offsets.
	alone := t.TempDir()
	if _, _, err := cliStreams(t, "", "restore", "--in", late, "--dir", alone); err != nil {
		t.Fatal(err)
	}
	if got, next := records(t, alone); !reflect.DeepEqual(got, want[40:]) || next != 60 {
		t.Fatalf("restored %d records, next %d; want offsets 40-59", len(got), next)
	}
}

func TestRestoreRefusesWhatItWouldDestroy(t *testing.T) {
	src, _ := writeLog(t, 20)
	snap := snapshotFile(t, src, 5, 20)
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{}, {"--force"}, {"--append"}} {
		if _, _, err := cliStreams(t, "", append([]string{"restore", "--in", snap, "--dir", other}, args...)...); err == nil {
			t.Errorf("restore %v into a directory of other files succeeded", args)
		}
	}
	if b, err := os.ReadFile(filepath.Join(other, "notes.txt")); err != nil || string(b) != "mine" {
		t.Errorf("the other file was touched: %q, %v", b, err)
	}

	// A log is replaced only with --force, and never while it is open.
	target, _ := writeLog(t, 50)
	if _, _, err := cliStreams(t, "", "restore", "--in", snap, "--dir", target); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore over a log without --force: %v", err)
	}
	l := openLog(t, target)
	if _, _, err := cliStreams(t, "", "restore", "--in", snap, "--dir", target, "--force"); !errors.Is(err, segment.ErrLocked) {
		t.Fatalf("restore --force over an open log: %v, want ErrLocked", err)
	}
	l.Close()
	if _, _, err := cliStreams(t, "", "restore", "--in", snap, "--dir", target, "--force"); err != nil {
		t.Fatal(err)
	}
	want, _ := records(t, src)
	if got, next := records(t, target); !reflect.DeepEqual(got, want[5:]) || next != 20 {
		t.Fatalf("after --force: %d records, next %d; want offsets 5-19", len(got), next)
	}
}

func TestRestoreDamagedSnapshotWritesNothing(t *testing.T) {
	src, _ := writeLog(t, 20)
	snap := snapshotFile(t, src, 0, 20)
	b, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-30] ^= 0x10 // in the last record
	if err := os.WriteFile(snap, b, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	_, _, err = cliStreams(t, "", "restore", "--in", snap, "--dir", dst)
	if !errors.Is(err, snapshot.ErrChecksum) || !strings.Contains(err.Error(), "(offset 19)") {
		t.Fatalf("damaged snapshot: %v, want ErrChecksum at offset 19", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused restore created %s: %v", dst, err)
	}
}

func TestRestoreUsage(t *testing.T) {
	for _, args := range [][]string{
		{"restore", "--dir", "x"},
		{"restore", "--in", "x"},
		{"restore", "--in", "x", "--dir", "y", "--force", "--append"},
	} {
		_, _, err := cliStreams(t, "", args...)
		if exitCode(err) != 2 {
			t.Errorf("%v: %v, exit %d; want a usage error", args, err, exitCode(err))
		}
	}
}
