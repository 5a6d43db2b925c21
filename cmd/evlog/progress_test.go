package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressRate(t *testing.T) {
	clock := time.Unix(1000, 0)
	var out bytes.Buffer
	p := &progress{w: &out, now: func() time.Time { return clock }, start: clock}

	// A gigabyte in the page cache within 10 ms: far too early for a rate.
	clock = clock.Add(10 * time.Millisecond)
	p.update(1e9, 4e9)
	if got := out.String(); got != "checked 1000000000 of 4000000000 bytes (25%)\n" {
		t.Fatalf("early line %q shows a rate", got)
	}
	out.Reset()
	// Two gigabytes after 4 s: 500 MB/s over the whole run, whatever
	// the interval since the last update.
	clock = clock.Add(3990 * time.Millisecond)
	p.update(2e9, 4e9)
	if got, want := out.String(), "checked 2000000000 of 4000000000 bytes (50%), 500.0 MB/s\n"; got != want {
		t.Fatalf("line %q, want %q", got, want)
	}
}

func TestProgressBarShowsOurRate(t *testing.T) {
	clock := time.Unix(1000, 0)
	var out bytes.Buffer
	p := &progress{w: &out, terminal: true, now: func() time.Time { return clock }, start: clock}
	clock = clock.Add(2 * time.Second)
	p.update(3e9, 4e9)
	p.finish()
	got := out.String()
	if !strings.Contains(got, "3.0 GB of 4.0 GB, 1.5 GB/s") {
		t.Fatalf("bar %q lacks the rate since the start", got)
	}
	if strings.Count(got, "/s") != 1 {
		t.Fatalf("bar %q shows a second rate", got)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[float64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 1.5e9: "1.5 GB", 2e21: "2000.0 EB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%v) = %q, want %q", n, got, want)
		}
	}
}
