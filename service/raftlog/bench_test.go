package raftlog

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service"
)

// BenchmarkAppend appends records of 100 B, without ids, to a three-node
// cluster in this process on loopback, with Raft's default timeouts, at
// 1, 64 and 256 in flight, and reports records/s and the latency from Append
// to the commit. It shows the replicated path without NATS: with
// -trace, the critical path of one append at 1 in flight.
func BenchmarkAppend(b *testing.B) {
	for _, inflight := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			c := newCluster(b, 3, func(cfg *Config) {
				// The production timeouts, not the tests' short ones.
				cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout, cfg.CommitTimeout = 0, 0, 0, 0
			})
			l := c.leader().log
			benchAppends(b, l, inflight)
		})
	}
}

// benchAppends runs b.N appends of one record on l, inflight at once,
// and reports the rate and the median and 99th percentile latency.
func benchAppends(b *testing.B, l *Log, inflight int) {
	value := make([]byte, 100)
	lat := make([]time.Duration, b.N)
	var next sync.Mutex
	i := 0
	take := func() (int, bool) {
		next.Lock()
		defer next.Unlock()
		if i == b.N {
			return 0, false
		}
		i++
		return i - 1, true
	}
	b.SetBytes(int64(len(value)))
	before := l.WALStats()
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, inflight)
	for range inflight {
		wg.Go(func() {
			ch := make(chan error, 1)
			for {
				n, ok := take()
				if !ok {
					return
				}
				a := &service.Append{Records: []*messages.Record{{Value: value}}, Token: ch}
				start := time.Now()
				if err := do(l, a); err != nil {
					errs <- err
					return
				}
				lat[n] = time.Since(start)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	// How the group commit grouped: records per Raft entry, and entries
	// per raft-wal append (one fsync each) on the leader.
	after := l.WALStats()
	if e := after.Entries - before.Entries; e > 0 {
		b.ReportMetric(float64(b.N)/float64(e), "records/entry")
		b.ReportMetric(float64(e)/float64(after.Appends-before.Appends), "entries/fsync")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Microsecond), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100])/float64(time.Microsecond), "p99-µs")
}
