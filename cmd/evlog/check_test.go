package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// writeLog writes n records into a new log of small segments and closes
// it, and returns its directory and store paths.
func writeLog(t *testing.T, n int) (dir string, stores []string) {
	t.Helper()
	dir = t.TempDir()
	var c segment.Config
	c.Segment.MaxStoreBytes = 512
	c.Sync.Mode = segment.SyncNever
	l, err := segment.NewLog(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.Append(&messages.Record{Value: []byte(strings.Repeat("v", 20+i%7))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	stores, err = filepath.Glob(filepath.Join(dir, "*.store"))
	if err != nil || len(stores) < 3 {
		t.Fatalf("stores %v, %v: want at least 3", stores, err)
	}
	return dir, stores
}

// checkCLI runs evlog check and returns stdout and stderr apart.
func checkCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = run(ctx, append([]string{"check"}, args...), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[pos] ^= 0x20
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckCommandClean(t *testing.T) {
	dir, stores := writeLog(t, 60)
	out, errOut, err := checkCLI(t, "--dir", dir)
	if err != nil {
		t.Fatalf("check: %v\n%s%s", err, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(stores)+1 {
		t.Fatalf("%d lines for %d segments: %q", len(lines), len(stores), out)
	}
	for i, store := range stores {
		if f := strings.Fields(lines[i]); len(f) != 4 || f[0] != filepath.Base(store) || f[2] != "records" || f[3] != "ok" {
			t.Fatalf("line %q, want %s, its records and ok", lines[i], filepath.Base(store))
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "60 records intact") || !strings.HasSuffix(last, ": clean") {
		t.Fatalf("summary %q", last)
	}
	// stderr is no terminal here: progress comes as plain lines.
	if !strings.Contains(errOut, "(100%)") {
		t.Fatalf("progress %q", errOut)
	}
}

func TestCheckCommandDamage(t *testing.T) {
	dir, stores := writeLog(t, 60)
	// The last byte of the second segment's first record.
	flipByte(t, stores[1], 8+40)
	out, _, err := checkCLI(t, "--dir", dir)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("check of a damaged log: err %v, out %q", err, out)
	}
	if !strings.Contains(out, filepath.Base(stores[1])) || !strings.Contains(out, "damaged from offset") ||
		!strings.Contains(out, "checksum mismatch") || !strings.Contains(out, "advice: ") || !strings.Contains(out, "1 damaged") {
		t.Fatalf("report %q", out)
	}

	// --repair does not delete records from a sealed segment: still 1.
	before, _ := os.ReadFile(stores[1])
	if _, _, err := checkCLI(t, "--dir", dir, "--repair"); exitCode(err) != 1 {
		t.Fatalf("repair of a damaged sealed segment: %v", err)
	}
	if after, _ := os.ReadFile(stores[1]); !bytes.Equal(before, after) {
		t.Fatal("repair changed a damaged sealed store")
	}

	out, _, err = checkCLI(t, "--dir", dir, "--json")
	if exitCode(err) != 1 {
		t.Fatalf("json check: %v", err)
	}
	var rep segment.CheckReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v: %q", err, out)
	}
	s := rep.Segments[1]
	if rep.Damaged != 1 || s.Status != segment.StatusDamaged || s.FirstBad == nil || s.FirstBad.Offset != s.BaseOffset ||
		s.FirstBad.Position != 0 || rep.Records != 59 {
		t.Fatalf("json report %+v", rep)
	}
}

func TestCheckCommandRepair(t *testing.T) {
	dir, stores := writeLog(t, 60)
	index := strings.TrimSuffix(stores[0], ".store") + ".index"
	if err := os.WriteFile(index, bytes.Repeat([]byte{0xa5}, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := checkCLI(t, "--dir", dir); exitCode(err) != 1 {
		t.Fatalf("check of a garbage index: %v", err)
	}
	out, _, err := checkCLI(t, "--dir", dir, "--repair")
	if err != nil || !strings.Contains(out, "repaired: rebuilt the index") || !strings.Contains(out, "clean, 1 repaired") {
		t.Fatalf("repair: %v: %q", err, out)
	}
	if out, _, err := checkCLI(t, "--dir", dir); err != nil || strings.Contains(out, "repaired") {
		t.Fatalf("check after repair: %v: %q", err, out)
	}
}

func TestCheckCommandUsage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing")
	_, _, err := checkCLI(t, "--dir", missing)
	if exitCode(err) != 2 || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing dir: %v", err)
	}
	if _, _, err := checkCLI(t, "--dir", t.TempDir(), "extra"); exitCode(err) != 2 {
		t.Fatalf("argument: %v", err)
	}
	// An empty directory is an empty log, and clean.
	if out, _, err := checkCLI(t, "--dir", t.TempDir()); err != nil || !strings.Contains(out, "0 segments") {
		t.Fatalf("empty dir: %v: %q", err, out)
	}
}
