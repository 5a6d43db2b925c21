package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
)

// rssLoads are the loads of the suite under which BenchmarkScaleRSS
// takes the server's peak resident set: appends of one record at 1, 64
// and 256 in flight, batches of 100 at 1 and 64 in flight.
var rssLoads = []shape{
	{inflight: 1, batch: 1}, {inflight: 64, batch: 1}, {inflight: maxAsyncPending, batch: 1},
	{inflight: 1, batch: 100}, {inflight: 64, batch: 100},
}

// rssReplay is the replay load: reads of 1000 records, 4 in flight.
var rssReplay = shape{inflight: 4, batch: 1000}

// An rssTarget is a server measured by BenchmarkScaleRSS: its prefix and
// its processes.
type rssTarget struct {
	name, prefix string
	pids         []int
	// settle waits until the server is at rest: a node of a cluster
	// answering info or a read must have applied every record so far,
	// or a follow would start from an offset already behind it.
	settle func()
}

// BenchmarkScaleRSS runs real `evlog serve` processes, a single node
// (--sync always) and a three-node cluster, all on one nats-server of the
// benchmark's process, and drives each through the loads of the suite
// (appends, batches, replay of what the appends wrote, follow), records
// of 100 B. Besides records/s it reports peak-MB, the peak resident set
// (VmHWM) during the load, reset before each (clear_refs): of the single
// node, or of the cluster's node that peaked highest. idle is the peak
// from the start to the first load. Names read
// node=KIND/load=WHAT/inflight=N/batch=N.
func BenchmarkScaleRSS(b *testing.B) {
	skipUnlessScale(b)
	bin := buildBinary(b)
	url := servicetest.NATS(b, nil).ClientURL()
	nc := connect(b, url)
	single := startSingleNode(b, bin, url, "rss-single", "--sync", "always")
	bc := newBinaryCluster(b, bin, url, 3)
	bc.awaitStatus(client.New(nc, client.WithTimeout(2*time.Second)), "all three nodes and a leader", allUp)
	var clusterPids []int
	for _, nd := range bc.nodes {
		clusterPids = append(clusterPids, nd.cmd.Process.Pid)
	}
	statusClient := client.New(nc, client.WithTimeout(2*time.Second))
	targets := []rssTarget{
		{"single", "rss-single", []int{single}, func() {}},
		{"cluster", replicatedPrefix, clusterPids, func() { bc.awaitStatus(statusClient, "the cluster at rest", allSameApplied) }},
	}
	for _, t := range targets {
		b.Run(fmt.Sprintf("node=%s/load=idle", t.name), func(b *testing.B) {
			b.ReportMetric(peakMB(b, t.pids), "peak-MB")
		})
		for _, load := range rssLoads {
			b.Run(fmt.Sprintf("node=%s/load=append/%v", t.name, load), func(b *testing.B) {
				defer watchMemory(b, t.pids)()
				drive(b, scalePayload, load, appendTarget(t.name, nc, t.prefix, scalePayload, true))
			})
		}
		b.Run(fmt.Sprintf("node=%s/load=replay/%v", t.name, rssReplay), func(b *testing.B) {
			t.settle()
			total := replayable(b, client.New(nc, client.WithPrefix(t.prefix)), rssReplay.batch)
			defer watchMemory(b, t.pids)()
			// A read stops at the end of a segment, so replies may hold
			// fewer records than asked for: not exact.
			drive(b, scalePayload, rssReplay, readTarget(t.name, nc, t.prefix, rssReplay.batch, total, false))
		})
		b.Run(fmt.Sprintf("node=%s/load=follow/inflight=1/batch=1", t.name), func(b *testing.B) {
			t.settle()
			defer watchMemory(b, t.pids)()
			followEvlog(b, scalePayload, client.New(nc, client.WithPrefix(t.prefix)),
				client.New(connect(b, url), client.WithPrefix(t.prefix)))
		})
	}
}

// replayable returns how many records from offset 0 a replay in reads
// of batch records may cycle over: the log's records, rounded down to a
// multiple of batch, of which there must be one at least.
func replayable(b *testing.B, c *client.Client, batch int) int {
	b.Helper()
	inf, err := c.Info(ctxT(b))
	if err != nil {
		b.Fatal(err)
	}
	total := int(inf.NextOffset) / batch * batch
	if inf.LowestOffset != 0 || total == 0 {
		b.Fatalf("no replay: the log holds offsets %d to %d", inf.LowestOffset, inf.NextOffset)
	}
	return total
}

// watchMemory resets the peak resident set of pids and samples their
// anonymous resident memory (RssAnon: the heap and stacks, not the
// mapped segment files, whose pages a replay makes resident and the
// kernel may reclaim) every 10 ms until the returned function is called,
// which reports peak-MB, the highest VmHWM of pids since the reset, and
// anon-MB, the highest RssAnon sampled.
func watchMemory(b *testing.B, pids []int) func() {
	b.Helper()
	for _, pid := range pids {
		resetHWM(b, pid)
	}
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, pid := range pids {
				if n, err := procStatus(pid, "RssAnon"); err == nil {
					peak = max(peak, n)
				}
			}
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(stop)
		anon := <-done
		b.ReportMetric(peakMB(b, pids), "peak-MB")
		b.ReportMetric(float64(anon)/1e6, "anon-MB")
	}
}

// peakMB is the highest peak resident set of pids, in MB.
func peakMB(b *testing.B, pids []int) float64 {
	b.Helper()
	var peak uint64
	for _, pid := range pids {
		peak = max(peak, vmHWM(b, pid))
	}
	return float64(peak) / 1e6
}
