package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// benchJSON runs evlog bench with --json against url and decodes its
// report.
func benchJSON(t *testing.T, url string, args ...string) benchReport {
	t.Helper()
	full := append([]string{"bench", "--nats-url", url, "--json"}, args...)
	out, err := cli(t, "", full...)
	if err != nil {
		t.Fatalf("evlog %s: %v: %s", strings.Join(full, " "), err, out)
	}
	var rep benchReport
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
		check func(t *testing.T, rep benchReport)
	}{
		{"read needs records", nil, nil},
		{"append", []string{"--mode", "append", "--duration", "300ms", "--clients", "2", "--inflight", "4", "--batch", "10", "--size", "64"},
			func(t *testing.T, rep benchReport) {
				if rep.Requests == 0 || rep.Records != rep.Requests*10 || rep.Bytes != rep.Records*64 || rep.Appended != rep.Records {
					t.Fatalf("report %+v", rep)
				}
			}},
		{"read", []string{"--mode", "read", "--records", "2000", "--batch", "100", "--inflight", "3"},
			func(t *testing.T, rep benchReport) {
				// Asking stops at 2000 records, 100 a read; reads at the
				// end of the log return fewer.
				if rep.Requests != 20 || rep.Records == 0 || rep.Records > 2000 || rep.Read != rep.Records {
					t.Fatalf("report %+v", rep)
				}
			}},
		{"mixed", []string{"--mode", "mixed", "--duration", "300ms", "--inflight", "2", "--batch", "5"},
			func(t *testing.T, rep benchReport) {
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
	var stderr syncBuffer
	var stdout syncBuffer
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

func TestLatencyHistogram(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 31, 32, 33, 1000, time.Millisecond, 3*time.Second + 7, 1<<63 - 1} {
		i := latencyBucket(d)
		if top := latencyBucketTop(i); top < d || (i > 0 && latencyBucketTop(i-1) >= d) {
			t.Fatalf("%v in bucket %d, whose top is %v (previous %v)", d, i, top, latencyBucketTop(i-1))
		}
		if top := latencyBucketTop(i); d > 32 && float64(top-d) > float64(d)/16 {
			t.Fatalf("bucket of %v reaches %v, more than 1/16 above", d, top)
		}
	}
	var h latencyHistogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.9, 900 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, time.Millisecond}} {
		got := h.quantile(q.q)
		if got < q.want || float64(got-q.want) > float64(q.want)/16 {
			t.Errorf("quantile %v = %v, want %v within 1/16", q.q, got, q.want)
		}
	}
	bins := h.bins()
	var n int64
	for _, b := range bins {
		n += b.Count
	}
	if n != 1000 || bins[0].UpToUS != 10 || bins[len(bins)-1].UpToUS != 1000 {
		t.Fatalf("bins %+v", bins)
	}
}

// An interrupted run, like one stopped with Ctrl-C, still reports what it
// measured.
func TestBenchInterrupted(t *testing.T) {
	url := startService(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	var stdout, stderr syncBuffer
	err := run(ctx, []string{"bench", "--nats-url", url, "--duration", "1h", "--json"}, strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v: %s", err, stderr.String())
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Requests == 0 || rep.Seconds > 10 {
		t.Fatalf("report %+v", rep)
	}
}
