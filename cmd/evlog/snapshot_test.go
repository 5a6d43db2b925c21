package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSnapshotCommand takes a snapshot of a running log and an increment
// after more appends, restores both, and finds every record as it was
// served.
func TestSnapshotCommand(t *testing.T) {
	url := startService(t)
	appendLines := func(from, to int) {
		t.Helper()
		var b strings.Builder
		for i := from; i < to; i++ {
			b.WriteString("v" + strconv.Itoa(i) + "\n")
		}
		if out, err := cli(t, b.String(), "append", "--nats-url", url, "--key", "k", "--header", "h=x"); err != nil {
			t.Fatalf("append: %v: %s", err, out)
		}
	}
	appendLines(0, 30)
	dir := t.TempDir()
	full := filepath.Join(dir, "full.snap")
	out, progress, err := cliStreams(t, "", "snapshot", "--nats-url", url, "--out", full)
	if err != nil {
		t.Fatalf("snapshot: %v: %s", err, out)
	}
	if !strings.HasPrefix(out, "snapshot of 30 records (offsets 0-29), ") || !strings.HasSuffix(out, "to "+full+"\n") {
		t.Fatalf("summary %q", out)
	}
	if !strings.Contains(progress, "received ") || !strings.Contains(progress, "verified ") {
		t.Errorf("progress on a pipe %q lacks plain lines", progress)
	}
	if _, err := os.Stat(full + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("the temporary file is left: %v", err)
	}

	appendLines(30, 50)
	inc := filepath.Join(dir, "inc.snap")
	out, err = cli(t, "", "snapshot", "--nats-url", url, "--from", "30", "--out", inc, "--json")
	if err != nil {
		t.Fatalf("snapshot --from: %v: %s", err, out)
	}
	var rep snapshotReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.First != 30 || rep.Next != 50 || rep.Records != 20 || rep.Bytes <= 0 {
		t.Fatalf("report %s: %+v, %v", out, rep, err)
	}

	restored := filepath.Join(dir, "restored")
	for _, args := range [][]string{{"--in", full, "--dir", restored}, {"--in", inc, "--dir", restored, "--append"}} {
		if out, err := cli(t, "", append([]string{"restore"}, args...)...); err != nil {
			t.Fatalf("restore %v: %v: %s", args, err, out)
		}
	}
	recs, next := records(t, restored)
	if next != 50 || len(recs) != 50 {
		t.Fatalf("restored %d records, next offset %d", len(recs), next)
	}
	for i, r := range recs {
		if r.Offset != uint64(i) || string(r.Value) != "v"+strconv.Itoa(i) || string(r.Key) != "k" || r.Headers["h"] != "x" || r.Timestamp == 0 {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
}

func TestSnapshotCommandRefuses(t *testing.T) {
	url := startService(t)
	if out, err := cli(t, "", "append", "--nats-url", url, "a", "b"); err != nil {
		t.Fatalf("append: %v: %s", err, out)
	}
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists")
	if err := os.WriteFile(exists, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no --out", nil, 2, "--out"},
		{"arguments", []string{"--out", filepath.Join(dir, "x"), "extra"}, 2, "no arguments"},
		{"existing file", []string{"--out", exists}, 1, "exists"},
		{"beyond the next offset", []string{"--out", filepath.Join(dir, "far"), "--from", "3"}, 1, "404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cli(t, "", append([]string{"snapshot", "--nats-url", url}, tc.args...)...)
			if err == nil || exitCode(err) != tc.code || !strings.Contains(err.Error()+out, tc.says) {
				t.Fatalf("got %v (exit %d): %s", err, exitCode(err), out)
			}
		})
	}
	if b, err := os.ReadFile(exists); err != nil || string(b) != "keep" {
		t.Fatalf("the existing file now holds %q, %v", b, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}
