package main

import (
	"strings"
	"testing"
	"time"

	"github.com/evlog/evlog/service/node"
)

func TestSince(t *testing.T) {
	url := startServiceWith(t, node.Options{})
	c := func(args ...string) (string, error) {
		t.Helper()
		return cli(t, "", append([]string{args[0], "--nats-url", url}, args[1:]...)...)
	}
	if _, err := c("append", "old"); err != nil {
		t.Fatal(err)
	}
	mid := time.Now().UTC().Format(time.RFC3339Nano)
	if _, err := c("append", "a", "b"); err != nil {
		t.Fatal(err)
	}
	out, err := c("read", "--since", mid, "--max", "10")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "1\t") || !strings.HasSuffix(lines[1], "\tb") {
		t.Fatalf("read --since %s: %v: %q, want records 1 and 2", mid, err, out)
	}
	if out, err := c("read", "--since", "1h", "--max", "10"); err != nil || strings.Count(out, "\n") != 3 {
		t.Fatalf("read --since 1h: %v: %q, want all 3 records", err, out)
	}
	future := time.Now().Add(time.Hour).Format(time.RFC3339)
	if out, err := c("read", "--since", future); err != nil || out != "" {
		t.Fatalf("read --since an hour ahead: %v: %q, want nothing", err, out)
	}
	for _, args := range [][]string{
		{"read", "--since", "10m", "--offset", "0"},
		{"tail", "--since", "10m", "--from", "earliest"},
		{"read", "--since", "yesterday"},
		{"read", "--since", "-5m"},
	} {
		if _, err := c(args...); err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "--since") {
			t.Fatalf("%v: %v, want a usage error about --since", args, err)
		}
	}
	out = runTail(t, url, "new", "--nats-url", url, "--since", mid)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 ||
		!strings.HasPrefix(lines[0], "1\t") || !strings.HasSuffix(lines[2], "\tnew") {
		t.Fatalf("tail --since %s printed %q, want records 1, 2 and the new one", mid, out)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-11-24T09:00:00Z":        now.Add(-time.Hour),
		"2026-11-24T11:00:00.5+01:00": now.Add(500 * time.Millisecond),
		"10m":                         now.Add(-10 * time.Minute),
		"0s":                          now,
		"1h30m":                       now.Add(-90 * time.Minute),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
