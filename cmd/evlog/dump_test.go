package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/evlog/evlog/segment"
)

func TestDump(t *testing.T) {
	dir, _ := writeLog(t, 40)
	out, _, err := cliStreams(t, "", "dump", "--dir", dir, "--from", "5", "--max", "3")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out)
	}
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if want := []string{"5", "6", "7"}[i]; f[0] != want || !strings.HasPrefix(f[len(f)-1], "vvvvv") {
			t.Errorf("line %q: want offset %s and its value", line, want)
		}
	}

	out, _, err = cliStreams(t, "", "dump", "--dir", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 40 {
		t.Fatalf("%d JSON lines, want 40", len(lines))
	}
	for i, line := range lines {
		var r struct {
			Offset    uint64 `json:"offset"`
			Timestamp int64  `json:"timestamp"`
			Value     string `json:"value"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Offset != uint64(i) || r.Timestamp <= 0 || r.Value == "" {
			t.Fatalf("line %d %q: %+v, %v", i, line, r, err)
		}
	}
}

func TestDumpRefuses(t *testing.T) {
	dir, _ := writeLog(t, 20)
	if _, _, err := cliStreams(t, "", "dump", "--dir", dir, "--from", "21"); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Errorf("--from past the end: %v", err)
	}
	if _, _, err := cliStreams(t, "", "dump", "--dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), "holds no log") {
		t.Errorf("a directory without a log: %v", err)
	}
	if _, _, err := cliStreams(t, "", "dump", "--dir", dir, "--from", "x"); exitCode(err) != 2 {
		t.Errorf("--from x: %v, want a usage error", err)
	}
	l := openLog(t, dir)
	defer l.Close()
	if _, _, err := cliStreams(t, "", "dump", "--dir", dir); !errors.Is(err, segment.ErrLocked) {
		t.Errorf("an open log: %v, want ErrLocked", err)
	}
}
