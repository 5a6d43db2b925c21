package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/evlog/evlog/service/client/load"
	"github.com/evlog/evlog/service/servicetest"
)

// benchJSON runs evlog bench with --json against url and decodes its
// report.
func benchJSON(t *testing.T, url string, args ...string) load.Report {
	t.Helper()
	full := append([]string{"bench", "--nats-url", url, "--json"}, args...)
	out, err := cli(t, "", full...)
	if err != nil {
		t.Fatalf("evlog %s: %v: %s", strings.Join(full, " "), err, out)
	}
	var rep load.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report is not JSON: %v: %q", err, out)
	}
	if len(rep.Errors) > 0 {
		t.Fatalf("errors: %v", rep.Errors)
	}
	return rep
}

func TestBench(t *testing.T) {
	url := startService(t)

	for _, tc := range []struct {
		name string
		args []string
		// check looks at a report whose run had no errors.
		check func(t *testing.T, rep load.Report)
	}{
		{"read needs records", nil, nil},
		{"append", []string{"--mode", "append", "--duration", "300ms", "--clients", "2", "--inflight", "4", "--batch", "10", "--size", "64"},
			func(t *testing.T, rep load.Report) {
				if rep.Requests == 0 || rep.Records != rep.Requests*10 || rep.Bytes != rep.Records*64 || rep.Appended != rep.Records {
					t.Fatalf("report %+v", rep)
				}
			}},
		{"read", []string{"--mode", "read", "--records", "2000", "--batch", "100", "--inflight", "3"},
			func(t *testing.T, rep load.Report) {
				// Asking stops at 2000 records, 100 a read; reads at the
				// end of the log return fewer.
				if rep.Requests != 20 || rep.Records == 0 || rep.Records > 2000 || rep.Read != rep.Records {
					t.Fatalf("report %+v", rep)
				}
			}},
		{"mixed", []string{"--mode", "mixed", "--duration", "300ms", "--inflight", "2", "--batch", "5"},
			func(t *testing.T, rep load.Report) {
				if rep.Appended == 0 || rep.Read == 0 || rep.Appended+rep.Read != rep.Records {
					t.Fatalf("report %+v", rep)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.check == nil {
				// Before any append the log is empty: reading it is an
				// error that says what to do.
				out, err := cli(t, "", "bench", "--nats-url", url, "--mode", "read", "--duration", "100ms")
				if err == nil || !strings.Contains(err.Error(), "empty") || exitCode(err) != 1 {
					t.Fatalf("read of an empty log: err %v, out %q", err, out)
				}
				return
			}
			rep := benchJSON(t, url, tc.args...)
			l := rep.LatencyUS
			if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
				t.Fatalf("latency percentiles %+v", l)
			}
			var binned int64
			for _, b := range rep.Histogram {
				binned += b.Count
			}
			if binned != rep.Requests {
				t.Fatalf("histogram holds %d of %d requests: %+v", binned, rep.Requests, rep.Histogram)
			}
			tc.check(t, rep)
		})
	}
}

func TestBenchText(t *testing.T) {
	url := startService(t)
	var stderr servicetest.Buffer
	var stdout servicetest.Buffer
	ctx := t.Context()
	err := run(ctx, []string{"bench", "--nats-url", url, "--duration", "1200ms", "--inflight", "8"}, strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v: %s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"evlog bench: append, appends of 1 x 100 B", "records/s", "MB/s", "errors     0\n", "p50 ", "p99 ", "max ", "histogram"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// Not on a terminal: a plain progress line a second.
	if progress := stderr.String(); !strings.HasPrefix(progress, "evlog bench:    1s ") || !strings.Contains(progress, "records/s") {
		t.Errorf("progress %q", progress)
	}
}

func TestBenchFailures(t *testing.T) {
	url := startService(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad mode", []string{"--mode", "write"}, 2, "--mode"},
		{"no clients", []string{"--clients", "0"}, 2, "--clients"},
		{"no window", []string{"--inflight", "0"}, 2, "--inflight"},
		{"no duration", []string{"--duration", "0s"}, 2, "--duration"},
		{"argument", []string{"extra"}, 2, "no arguments"},
		{"no service", []string{"--prefix", "nothing.here", "--duration", "100ms"}, 1, "no service answers"},
		{"batch too large", []string{"--batch", "20000", "--size", "1", "--duration", "200ms"}, 1, "413: "},
		{"beyond max payload", []string{"--size", "2000000", "--duration", "200ms"}, 1, "maximum payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "--nats-url", url}, tc.args...)
			out, err := cli(t, "", args...)
			if err == nil {
				t.Fatalf("no error; output %q", out)
			}
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit code %d, want %d (err %v)", got, tc.code, err)
			}
			if !strings.Contains(err.Error()+out, tc.want) {
				t.Fatalf("error %v, output %q: want %q", err, out, tc.want)
			}
		})
	}
}

// An interrupted run, like one stopped with Ctrl-C, still reports what it
// measured.
func TestBenchInterrupted(t *testing.T) {
	url := startService(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	var stdout, stderr servicetest.Buffer
	err := run(ctx, []string{"bench", "--nats-url", url, "--duration", "1h", "--json"}, strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v: %s", err, stderr.String())
	}
	var rep load.Report
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Requests == 0 || rep.Seconds > 10 {
		t.Fatalf("report %+v", rep)
	}
}
