package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
)

// overloadTally counts what the clients of TestOverload got back.
type overloadTally struct {
	// mu guards acked, written by the appenders and read by the readers.
	mu    sync.Mutex
	acked map[uint64][]byte

	appends, refused, reads, readRecords atomic.Int64
}

// TestOverload has 64 clients append and read as fast as they can
// against a service that lets only a few appends wait for the disk. The
// excess must get 503 at once, every request must be answered within its
// timeout, info must stay answered throughout, the heap must stay
// bounded, and every acknowledged record must be readable afterwards.
// EVLOG_OVERLOAD_SECONDS sets how long the load lasts (default 3).
func TestOverload(t *testing.T) {
	const (
		clients     = 64
		conns       = 8
		maxRequests = 4000 // per client, so that a fast machine stops too
		maxPending  = 4
		timeout     = 10 * time.Second
	)
	duration := time.Duration(campaignSetting(t, "EVLOG_OVERLOAD_SECONDS", 3)) * time.Second
	ns := servicetest.NATS(t, nil)
	n := startNode(t, ns.ClientURL(), t.TempDir(), smallSegments(), service.Config{MaxPendingAppends: maxPending})
	cs := make([]*client.Client, conns)
	for i := range cs {
		cs[i] = client.New(connect(t, ns.ClientURL()), client.WithTimeout(timeout))
	}
	tally := &overloadTally{acked: map[uint64][]byte{}}

	var heapBefore runtime.MemStats
	runtime.ReadMemStats(&heapBefore)
	stop := make(chan struct{})
	var samplers sync.WaitGroup
	var (
		peakHeap    uint64
		peakPending int
		infoLatency []time.Duration
	)
	samplers.Go(func() {
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
			peakPending = max(peakPending, n.svc.Stats().PendingAppends)
		}
	})
	// Info from a connection of its own, as a monitor would ask.
	monitor := client.New(connect(t, ns.ClientURL()), client.WithTimeout(timeout))
	samplers.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			start := time.Now()
			if _, err := monitor.Info(context.Background()); err != nil {
				t.Errorf("info under load: %v", err)
				return
			}
			infoLatency = append(infoLatency, time.Since(start))
		}
	})

	start := time.Now()
	deadline := start.Add(duration)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { overloadClient(t, cs[i%conns], tally, uint64(i), deadline, maxRequests) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	samplers.Wait()

	if peakPending > maxPending {
		t.Errorf("%d appends waited for the disk, the limit is %d", peakPending, maxPending)
	}
	if peakHeap > 512<<20 {
		t.Errorf("heap in use peaked at %d MiB", peakHeap>>20)
	}
	if len(infoLatency) == 0 {
		t.Fatal("info was never answered during the load")
	}
	all := readAll(t, cs[0])
	if len(all) != len(tally.acked) {
		t.Fatalf("log holds %d records, %d were acknowledged", len(all), len(tally.acked))
	}
	for _, r := range all {
		if v := tally.acked[r.Offset]; !bytes.Equal(r.Value, v) {
			t.Fatalf("offset %d: %q, acknowledged %q", r.Offset, r.Value, v)
		}
	}
	slices.Sort(infoLatency)
	pct := func(p int) time.Duration { return infoLatency[(len(infoLatency)-1)*p/100].Round(10 * time.Microsecond) }
	t.Logf("%d clients for %v: %d appends acknowledged (%d records, %.0f acks/s, %.0f records/s), %d refused with 503; "+
		"%d reads (%d records); info answered %d times, p50 %v p99 %v max %v; "+
		"at most %d appends pending (limit %d); heap in use peaked at %.1f MiB (%.1f MiB before)",
		clients, elapsed.Round(time.Millisecond), tally.appends.Load(), len(tally.acked),
		float64(tally.appends.Load())/elapsed.Seconds(), float64(len(tally.acked))/elapsed.Seconds(),
		tally.refused.Load(), tally.reads.Load(), tally.readRecords.Load(),
		len(infoLatency), pct(50), pct(99), infoLatency[len(infoLatency)-1],
		peakPending, maxPending, float64(peakHeap)/(1<<20), float64(heapBefore.HeapInuse)/(1<<20))
	if tally.refused.Load() == 0 {
		t.Logf("no append was refused: the disk kept up with %d clients", clients)
	}
}

// overloadClient appends batches and reads recent records until the
// deadline or maxRequests. Every request must get an answer: a 503 is
// counted and retried after a moment, anything else fails the test.
func overloadClient(t *testing.T, c *client.Client, tally *overloadTally, id uint64, deadline time.Time, maxRequests int) {
	rng := rand.New(rand.NewPCG(id, 0))
	for i := 0; i < maxRequests && time.Now().Before(deadline); i++ {
		if rng.IntN(4) == 0 {
			overloadRead(t, c, tally, rng)
			continue
		}
		recs := make([]messages.Record, 1+rng.IntN(8))
		for j := range recs {
			recs[j] = rec(fmt.Appendf(nil, "client %d request %d record %d %s", id, i, j, bytes.Repeat([]byte{'x'}, rng.IntN(200))))
		}
		rep, err := c.Append(context.Background(), recs...)
		var ce *client.Error
		switch {
		case err == nil:
		case errors.As(err, &ce) && ce.Code == messages.CodeUnavailable && ce.Description != "":
			tally.refused.Add(1)
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
			continue
		case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
			t.Errorf("client %d: append not answered in time: %v", id, err)
			return
		default:
			t.Errorf("client %d: append: %v", id, err)
			return
		}
		tally.appends.Add(1)
		tally.mu.Lock()
		for j, r := range recs {
			off := rep.FirstOffset + uint64(j)
			if _, dup := tally.acked[off]; dup {
				t.Errorf("offset %d acknowledged twice", off)
			}
			tally.acked[off] = r.Value
		}
		tally.mu.Unlock()
	}
}

// overloadRead reads a few records at a random acknowledged offset and
// checks them against what was acknowledged there.
func overloadRead(t *testing.T, c *client.Client, tally *overloadTally, rng *rand.Rand) {
	tally.mu.Lock()
	n := uint64(len(tally.acked))
	tally.mu.Unlock()
	if n == 0 {
		return
	}
	// Offsets below n need not all be acknowledged yet (replies arrive
	// out of order), but they are all committed: a reply is sent only
	// after every offset before it committed.
	rr, err := c.Read(context.Background(), rng.Uint64N(n), client.ReadOptions{MaxRecords: 10})
	if err != nil {
		t.Errorf("read under load: %v", err)
		return
	}
	tally.reads.Add(1)
	tally.readRecords.Add(int64(len(rr.Records)))
	tally.mu.Lock()
	defer tally.mu.Unlock()
	for _, r := range rr.Records {
		if v, ok := tally.acked[r.Offset]; ok && !bytes.Equal(r.Value, v) {
			t.Errorf("read offset %d: %q, acknowledged %q", r.Offset, r.Value, v)
		}
	}
}
