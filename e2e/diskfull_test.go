//go:build linux

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
)

// diskFullTmpfs mounts a tmpfs of size (such as "2m") on a new directory
// and unmounts it when the test ends. It skips the test where mounting is
// not allowed.
func diskFullTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("filling a disk needs a small tmpfs, and mounting one needs root or CAP_SYS_ADMIN: %v: %s", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// diskFullConfig sizes the log for a 2 MiB file system: the index of a
// segment is allocated when the segment starts, so it must be small, and
// segments roll every few appends, so that the disk fills up during rolls
// too.
func diskFullConfig() segment.Config {
	var c segment.Config
	c.Segment.MaxStoreBytes = 64 << 10
	c.Segment.MaxIndexBytes = 12 * 1024
	return c
}

// TestDiskFull runs the service on a 2 MiB file system and appends until
// the disk is full. Appends must then fail with 500 and a description
// that says so, without harming what was acknowledged or stopping the
// service. Space is then freed a little at a time: after each step,
// appends go on where they stopped, without a restart, until the disk is
// full again, be it while writing a store or while starting a segment.
func TestDiskFull(t *testing.T) {
	mnt := diskFullTmpfs(t, "2m")
	// Space to give back later, in steps.
	const steps, step = 24, 12 << 10
	var reserve []string
	for i := range steps {
		name := filepath.Join(mnt, fmt.Sprintf("reserve-%d", i))
		if err := os.WriteFile(name, make([]byte, step), 0o644); err != nil {
			t.Fatal(err)
		}
		reserve = append(reserve, name)
	}
	dir := filepath.Join(mnt, "log")
	ns := servicetest.NATS(t, nil)
	n := startNode(t, ns.ClientURL(), dir, diskFullConfig(), service.Config{})
	c := client.New(connect(t, ns.ClientURL()))
	ctx := ctxT(t)

	var acked [][]byte
	appendBatch := func() error {
		recs := make([]messages.Record, 8)
		for i := range recs {
			recs[i] = rec(append(val(len(acked)+i), bytes.Repeat([]byte{'.'}, 1000)...))
		}
		rep, err := c.Append(ctx, recs...)
		if err != nil {
			return err
		}
		if rep.FirstOffset != uint64(len(acked)) {
			t.Fatalf("append at %d: offsets %d to %d", len(acked), rep.FirstOffset, rep.LastOffset)
		}
		for _, r := range recs {
			acked = append(acked, r.Value)
		}
		return nil
	}
	// appendUntilFull appends until the disk is full and checks that the
	// disk full answer is the one expected, that it stays so, and that
	// the service and the log are unharmed. It returns the description.
	appendUntilFull := func() string {
		t.Helper()
		var err error
		for err == nil {
			if len(acked) > 1<<20 {
				t.Fatal("the disk never filled up")
			}
			err = appendBatch()
		}
		var desc string
		for i := range 3 {
			if i > 0 {
				err = appendBatch()
			}
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Code != messages.CodeInternal || !strings.Contains(ce.Description, "no space left on device") {
				t.Fatalf("append to a full disk: %v, want 500 saying no space is left", err)
			}
			desc = ce.Description
		}
		// A full disk at write is not a failed sync: the service goes on.
		if err := n.svc.Err(); err != nil {
			t.Fatalf("service failed on a full disk: %v", err)
		}
		checkDiskFullLog(t, c, acked)
		return desc
	}

	desc := appendUntilFull()
	t.Logf("full after %d records: %s", len(acked), desc)
	full := map[string]int{}
	before := len(acked)
	for _, name := range reserve {
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
		desc := appendUntilFull()
		if strings.Contains(desc, ".index") {
			full["starting a segment"]++
		} else {
			full["writing a store"]++
		}
	}
	if len(acked) == before {
		t.Fatal("no append succeeded after space was freed")
	}
	t.Logf("%d more records acknowledged as %d KiB were freed %d times; the disk filled up again while %v",
		len(acked)-before, step>>10, steps, full)

	// The log closes and reopens clean: no failed write left bytes behind.
	n.stop(t)
	l, err := segment.NewLog(dir, diskFullConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if rec := l.Recovered(); len(rec) != 0 {
		t.Errorf("reopen repaired %+v", rec)
	}
	if next := l.NextOffset(); next != uint64(len(acked)) {
		t.Errorf("reopened log ends at %d, %d records were acknowledged", next, len(acked))
	}
}

// checkDiskFullLog checks through the service that the log holds exactly
// the acknowledged values.
func checkDiskFullLog(t *testing.T, c *client.Client, acked [][]byte) {
	t.Helper()
	info, err := c.Info(ctxT(t))
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if info.NextOffset != uint64(len(acked)) {
		t.Fatalf("info: next offset %d, %d records acknowledged", info.NextOffset, len(acked))
	}
	all := readAll(t, c)
	if len(all) != len(acked) {
		t.Fatalf("read %d records, %d acknowledged", len(all), len(acked))
	}
	for i, r := range all {
		if !bytes.Equal(r.Value, acked[i]) {
			t.Fatalf("offset %d: %.20q, acknowledged %.20q", i, r.Value, acked[i])
		}
	}
}

// TestDiskFullAtOpen opens a log whose first index cannot fit on the
// disk: NewLog must say so, rather than the process dying later when
// it writes to the index.
func TestDiskFullAtOpen(t *testing.T) {
	mnt := diskFullTmpfs(t, "2m")
	_, err := segment.NewLog(filepath.Join(mnt, "log"), segment.Config{}) // a 12 MiB index
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("NewLog with an index larger than the disk: %v", err)
	}
	t.Logf("%v", err)
}
