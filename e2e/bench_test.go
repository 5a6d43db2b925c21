package e2e

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks put evlog between a ceiling and a peer, side by side in
// one run (docs/benchmarks.md says how to run and read them):
//
//   - echo: a core-NATS responder that answers an append or a read at once
//     with a canned reply, what request-reply costs with no log at all;
//   - evlog: the service under each sync mode (always, interval, never),
//     connected in-process to the embedded server as `evlog serve` is,
//     and, named "-tcp", over loopback TCP as a service joining a NATS
//     deployment is;
//   - jetstream: a file-storage stream of the same server (default sync,
//     every two minutes) or of a second one with SyncAlways.
//
// Every benchmark function starts its own embedded servers; clients reach
// them over loopback TCP. One op is one record everywhere, so ns/op, MB/s
// (b.SetBytes of the payload) and records/s compare across targets. Request
// latencies are reported as p50-µs and p99-µs.
//
// All targets are driven by drive: one goroutine sends requests while a
// window of them is unanswered. The request-reply targets (echo, evlog)
// send through load.Window, the engine evlog bench drives a service with:
// requests carry a reply subject and the replies arrive on one
// subscription, the way JetStream's own PublishAsync works. No target gets
// a cheaper client than another.

// payloads are the record sizes measured, in bytes.
var payloads = []int{100, 1024}

// stallLimit is how long a run may go without an answer before it fails:
// a lost reply must not hang the suite.
const stallLimit = 30 * time.Second

// A shape is a load: batch records a request, inflight requests
// unanswered at most.
type shape struct {
	inflight, batch int
}

func (s shape) String() string { return fmt.Sprintf("inflight=%d/batch=%d", s.inflight, s.batch) }

// A sender issues request i holding n records and arranges for the run's
// complete(i, err) to be called once when it is answered. It may call
// complete before it returns; an error it returns ends the benchmark.
type sender func(i, n int) error

// A target is something to send records to. open prepares one run of a
// benchmark with at most inflight requests unanswered and returns its
// sender and what releases it.
type target struct {
	name string
	open func(b *testing.B, inflight int, complete func(i int, err error)) (sender, func())
}

// run is the bookkeeping of one drive: when each request left, how long
// it took, and how many are still unanswered.
type run struct {
	base   time.Time
	slots  chan struct{} // one token per request in flight
	starts []atomic.Int64
	seen   []atomic.Bool
	lat    []time.Duration // written by complete, read after done
	left   atomic.Int64
	done   chan struct{}

	errMu    sync.Mutex
	errs     int
	firstErr error
}

func newRun(requests, inflight int) *run {
	r := &run{
		base:   time.Now(),
		slots:  make(chan struct{}, inflight),
		starts: make([]atomic.Int64, requests),
		seen:   make([]atomic.Bool, requests),
		lat:    make([]time.Duration, requests),
		done:   make(chan struct{}),
	}
	r.left.Store(int64(requests))
	if requests == 0 {
		close(r.done)
	}
	return r
}

// now is the time since the run began, from the monotonic clock.
func (r *run) now() time.Duration { return time.Since(r.base) }

// issue waits for a free slot and stamps request i.
func (r *run) issue(i int) {
	r.slots <- struct{}{}
	r.starts[i].Store(int64(r.now()))
}

// complete records the answer to request i and frees its slot. A second
// answer to the same request is an error: two responders on one subject.
func (r *run) complete(i int, err error) {
	if r.seen[i].Swap(true) {
		r.fail(i, errors.New("answered twice"))
		return
	}
	r.lat[i] = r.now() - time.Duration(r.starts[i].Load())
	if err != nil {
		r.fail(i, err)
	}
	<-r.slots
	if r.left.Add(-1) == 0 {
		close(r.done)
	}
}

func (r *run) fail(i int, err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.errs++
	if r.firstErr == nil {
		r.firstErr = fmt.Errorf("request %d: %w", i, err)
	}
}

// wait returns once every request is answered, and fails the benchmark
// when answers stop coming.
func (r *run) wait(b *testing.B) {
	b.Helper()
	waitProgress(b, r.done, func() int64 { return r.left.Load() }, "requests unanswered")
}

// waitProgress waits for done while remaining() keeps falling, and fails
// once it has stood still for stallLimit.
func waitProgress(b *testing.B, done <-chan struct{}, remaining func() int64, what string) {
	b.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last, since := remaining(), time.Now()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if n := remaining(); n != last {
				last, since = n, time.Now()
			} else if time.Since(since) > stallLimit {
				b.Fatalf("%d %s for %v", n, what, stallLimit)
			}
		}
	}
}

// drive sends b.N records of payload bytes to t, s.batch records a request
// and at most s.inflight requests unanswered, and reports records/s and
// the requests' p50 and p99 latency.
func drive(b *testing.B, payload int, s shape, t target) {
	requests := (b.N + s.batch - 1) / s.batch
	r := newRun(requests, s.inflight)
	send, release := t.open(b, s.inflight, r.complete)
	defer release()
	b.SetBytes(int64(payload))
	b.ResetTimer()
	for i := range requests {
		r.issue(i)
		if err := send(i, min(s.batch, b.N-i*s.batch)); err != nil {
			b.Fatalf("%s: send request %d: %v", t.name, i, err)
		}
	}
	r.wait(b)
	b.StopTimer()
	if r.firstErr != nil {
		b.Fatalf("%s: %d of %d requests failed, the first: %v", t.name, r.errs, requests, r.firstErr)
	}
	reportRate(b)
	reportLatency(b, r.lat, "")
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// reportLatency reports the median and the 99th percentile of lat in
// microseconds, as the metrics p50-µs and p99-µs (prefixed with what).
// It sorts lat.
func reportLatency(b *testing.B, lat []time.Duration, what string) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	for _, q := range []struct {
		name string
		p    float64
	}{{"p50", 0.50}, {"p99", 0.99}} {
		b.ReportMetric(float64(percentile(lat, q.p))/float64(time.Microsecond), what+q.name+"-µs")
	}
}

// percentile returns the nearest-rank p-quantile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
