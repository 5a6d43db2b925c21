package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
)

// The scale benchmarks run the real binary to measure what grows with
// the work: the time `evlog serve` takes to answer its first read after a
// clean stop and after a kill -9, with 1 or 100 segments, on a single node
// and on a node of a cluster; and the peak resident set of the server
// under each load of the suite. They build the binary and write hundreds
// of megabytes, so they run only when asked:
//
//	EVLOG_BENCH_SCALE=1 go test -run '^$' -bench ScaleStart -benchtime 5x -timeout 30m ./e2e
//	EVLOG_BENCH_SCALE=1 go test -run '^$' -bench ScaleRSS -benchtime 3s -timeout 30m ./e2e
//
// The memory benchmark needs loads that last: give it a time, not a count.
const (
	scaleBenchEnv = "EVLOG_BENCH_SCALE"
	scalePayload  = 100
	// Small stores, so that 100 segments take seconds to write: the cost
	// of a sealed segment at open depends little on its size (the
	// segment package's BenchmarkScaleOpen measures 64 MiB ones).
	scaleStoreBytes  = 4 << 20
	scaleRecordBytes = 4096
	scalePrefix      = "scale"
)

// scaleNodeArgs are the flags of every scale benchmark's evlog serve
// but the store size; scaleServeArgs add the single node's.
var (
	scaleNodeArgs  = []string{"--max-record-bytes", strconv.Itoa(scaleRecordBytes), "--log-level", "warn"}
	scaleServeArgs = append([]string{"--max-store-bytes", strconv.Itoa(scaleStoreBytes)}, scaleNodeArgs...)
)

// skipUnlessScale skips the benchmark unless the scale switch is set.
func skipUnlessScale(b *testing.B) {
	b.Helper()
	if os.Getenv(scaleBenchEnv) == "" {
		b.Skipf("builds the binary and writes hundreds of MB; set %s=1 to run", scaleBenchEnv)
	}
}

// A serveProc is one run of `evlog serve`.
type serveProc struct {
	cmd    *exec.Cmd
	stderr *servicetest.Buffer
	done   chan error
}

// launch starts `evlog serve` with args; it is killed when the benchmark
// ends if it still runs.
func launch(b *testing.B, bin string, args ...string) *serveProc {
	b.Helper()
	p := &serveProc{cmd: exec.Command(bin, append([]string{"serve"}, args...)...), stderr: &servicetest.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		b.Fatalf("start evlog: %v", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	b.Cleanup(func() { p.end(b, syscall.SIGKILL) })
	return p
}

// end stops p with sig and waits for it; a SIGTERM must end it cleanly.
func (p *serveProc) end(b *testing.B, sig syscall.Signal) {
	if p.done == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		p.done = nil
		if sig == syscall.SIGTERM && err != nil {
			b.Errorf("evlog serve exited with %v\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		b.Fatalf("evlog serve did not stop on %v\n%s", sig, p.stderr)
	}
}

// await polls ready every millisecond until it holds, for 30 s at most,
// and fails if p exits first.
func (p *serveProc) await(b *testing.B, what string, ready func() bool) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		select {
		case err := <-p.done:
			p.done = nil
			b.Fatalf("evlog serve exited before %s: %v\n%s", what, err, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("evlog serve: no %s in 30 s\n%s", what, p.stderr)
		}
		time.Sleep(time.Millisecond)
	}
}

// readAnswered says whether a read of offset 0 under prefix is answered
// with at least one record.
func readAnswered(c *client.Client) func() bool {
	return func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		rr, err := c.Read(ctx, 0, client.ReadOptions{MaxRecords: 1})
		return err == nil && len(rr.Records) == 1
	}
}

// readyz says whether the /readyz of the node at addr answers 200.
func readyz(addr string) func() bool {
	hc := &http.Client{Timeout: 200 * time.Millisecond}
	return func() bool {
		resp, err := hc.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

// countStores counts the segments of the log in dir.
func countStores(b *testing.B, dir string) int {
	b.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.store"))
	if err != nil {
		b.Fatal(err)
	}
	return len(m)
}

// stopName names how a start-up benchmark stops the server between runs.
func stopName(sig syscall.Signal) string {
	if sig == syscall.SIGKILL {
		return "crash"
	}
	return "clean"
}

// vmHWM returns the peak resident set of pid in bytes, VmHWM of
// /proc/PID/status.
func vmHWM(b *testing.B, pid int) uint64 {
	b.Helper()
	n, err := procStatus(pid, "VmHWM")
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// procStatus returns the field name of /proc/PID/status, in bytes.
func procStatus(pid int, name string) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read the status of %d: %w", pid, err)
	}
	n, err := statusKB(data, name)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return n << 10, nil
}

// statusKB returns the field name, in kB, of a /proc/PID/status file.
func statusKB(data []byte, name string) (uint64, error) {
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s", name)
}

// resetHWM sets the peak resident set of pid back to its current one
// (clear_refs 5), so that the next VmHWM is the peak of what follows.
func resetHWM(b *testing.B, pid int) {
	b.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		b.Fatalf("reset the peak RSS of %d: %v", pid, err)
	}
}

// TestStatusKB checks the reader of /proc/PID/status that the peak RSS
// figures rest on.
func TestStatusKB(t *testing.T) {
	status := []byte("Name:\tevlog\nVmPeak:\t  812345 kB\nVmHWM:\t   18616 kB\nVmRSS:\t   17000 kB\n")
	if n, err := statusKB(status, "VmHWM"); err != nil || n != 18616 {
		t.Errorf("VmHWM: %d, %v; want 18616", n, err)
	}
	if _, err := statusKB(status, "VmSwap"); err == nil {
		t.Error("a missing field read without an error")
	}
	if _, err := statusKB([]byte("VmHWM:\tlots kB\n"), "VmHWM"); err == nil {
		t.Error("a malformed field read without an error")
	}
	self, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if n, err := statusKB(self, "VmHWM"); err != nil || n == 0 {
		t.Errorf("this process's VmHWM: %d, %v", n, err)
	}
}

// preloadSegments writes a log into dir directly, as `evlog serve` with
// scaleServeArgs would: sealed full segments of scaleStoreBytes, then an
// active one filled to 15/16 of a store.
func preloadSegments(b *testing.B, dir string, sealed int) {
	b.Helper()
	var lc segment.Config
	lc.Segment.MaxStoreBytes = scaleStoreBytes
	lc.Sync.Mode = segment.SyncNever
	l, err := segment.NewLog(dir, lc)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}()
	payload := make([]byte, scalePayload)
	batch := make([]*messages.Record, 100)
	appendBatch := func() {
		for i := range batch {
			batch[i] = &messages.Record{Value: payload}
		}
		if _, err := l.AppendUnsynced(batch); err != nil {
			b.Fatal(err)
		}
	}
	for l.Stats().Segments < sealed+1 {
		appendBatch()
	}
	// The active store holds less than a batch now.
	for from := l.Stats().Bytes; l.Stats().Bytes-from < scaleStoreBytes/16*15; {
		appendBatch()
	}
	if n := l.Stats().Segments; n != sealed+1 {
		b.Fatalf("preloaded %d segments, want %d", n, sealed+1)
	}
}

// clusterStoreBytes are the stores of the cluster's nodes: smaller, so
// that 100 segments fill through Raft in seconds.
const clusterStoreBytes = 256 << 10

// dedupWindows are the append-id windows the start-up benchmarks run
// with. A start reads every record of the last window to rebuild the
// table of append ids, and every record of these benchmarks was written
// moments before: under the default window (2 minutes) a start reads the
// whole log, under 1 ms next to nothing, which leaves what the segments
// themselves cost.
var dedupWindows = []dedupWindow{{"default", nil}, {"1ms", []string{"--dedup-window", "1ms"}}}

// A dedupWindow is a name and the flags that set the window.
type dedupWindow struct {
	name string
	args []string
}

// BenchmarkScaleStart times `evlog serve` from its start to being ready,
// after a clean stop (SIGTERM) and after a kill -9, with 1 or 100
// segments: on a single node until its first answered read, on a
// follower of a three-node cluster until its /readyz answers 200. Both
// should be flat in the number of segments; after a kill -9 the active
// segment is recovered, whatever its size here (15/16 of a 4 MiB store on
// the single node). Names read node=KIND/dedup=WINDOW/segments=N/stop=HOW.
func BenchmarkScaleStart(b *testing.B) {
	skipUnlessScale(b)
	bin := buildBinary(b)
	url := servicetest.NATS(b, nil).ClientURL()
	c := client.New(connect(b, url), client.WithPrefix(scalePrefix), client.WithTimeout(time.Second))
	for _, segments := range []int{1, 100} {
		dir := b.TempDir()
		preloadSegments(b, dir, segments-1)
		for _, w := range dedupWindows {
			args := append([]string{"--dir", dir, "--nats-url", url, "--prefix", scalePrefix}, scaleServeArgs...)
			args = append(args, w.args...)
			for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
				b.Run(fmt.Sprintf("node=single/dedup=%s/segments=%d/stop=%s", w.name, segments, stopName(sig)), func(b *testing.B) {
					benchStarts(b, sig, func() *serveProc { return launch(b, bin, args...) }, readAnswered(c), true)
				})
			}
		}
	}
	benchClusterStarts(b, bin, url)
}

// benchStarts times b.N starts of the server that start launches, each
// until ready holds, each stopped with sig, after a first run that leaves
// the directory as sig does. With checkRepair, a start after a kill -9
// must have repaired a segment and one after a clean stop must not.
func benchStarts(b *testing.B, sig syscall.Signal, start func() *serveProc, ready func() bool, checkRepair bool) {
	p := start()
	p.await(b, "ready", ready)
	p.end(b, sig)
	b.ResetTimer()
	for range b.N {
		p := start()
		p.await(b, "ready", ready)
		b.StopTimer()
		repaired := strings.Contains(p.stderr.String(), "segment repaired")
		p.end(b, sig)
		if checkRepair && repaired != (sig == syscall.SIGKILL) {
			b.Fatalf("after a %s stop, segment repaired is %v:\n%s", stopName(sig), repaired, p.stderr)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/start")
}

// benchClusterStarts starts a three-node cluster and times the restart
// of a follower with 1 segment, then with 100.
func benchClusterStarts(b *testing.B, bin, url string) {
	bc := newBinaryClusterEach(b, bin, url, 3, func(int) []string {
		return append([]string{"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", freePort(b)),
			"--max-store-bytes", strconv.Itoa(clusterStoreBytes)}, scaleNodeArgs...)
	})
	c := client.New(connect(b, url), client.WithTimeout(5*time.Second))
	st := bc.awaitStatus(c, "all three nodes and a leader", allUp)
	follower := bc.nodes[0]
	if follower.id == st.Leader {
		follower = bc.nodes[1]
	}
	for _, segments := range []int{1, 100} {
		fillCluster(b, c, filepath.Join(follower.dir, "log"), segments)
		bc.awaitStatus(c, "every node applied", allSameApplied)
		for _, w := range dedupWindows {
			for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
				b.Run(fmt.Sprintf("node=cluster/dedup=%s/segments=%d/stop=%s", w.name, segments, stopName(sig)), func(b *testing.B) {
					benchFollowerStarts(b, bc, c, follower, w, sig)
				})
			}
		}
	}
}

// allSameApplied says every member is up and all have applied the same
// records: the cluster is at rest.
func allSameApplied(st messages.ClusterStatus) bool {
	if !allUp(st) {
		return false
	}
	for _, m := range st.Members {
		if m.AppliedOffset != st.Members[0].AppliedOffset {
			return false
		}
	}
	return true
}

// benchFollowerStarts times restarts of follower, with the dedup window
// w, each until its /readyz answers 200, each stopped with sig; then it
// starts the follower as it was and waits for the cluster to be whole.
func benchFollowerStarts(b *testing.B, bc *binaryCluster, c *client.Client, follower *clusterProc, w dedupWindow, sig syscall.Signal) {
	extra := follower.extra
	metrics := extra[1] // --metrics-addr's
	follower.extra = append(slices.Clip(extra), w.args...)
	// The serveProc takes the process over from the cluster, which must
	// not wait for it a second time.
	restart := func() *serveProc {
		bc.start(follower)
		p := &serveProc{cmd: follower.cmd, stderr: follower.stderr, done: follower.done}
		follower.done = nil
		b.Cleanup(func() { p.end(b, syscall.SIGKILL) })
		return p
	}
	bc.stop(follower)
	benchStarts(b, sig, restart, readyz(metrics), false)
	follower.extra = extra
	bc.start(follower)
	st := bc.awaitStatus(c, "the follower back", allUp)
	// A start reads every Raft entry after the newest snapshot.
	for _, m := range st.Members {
		if m.ID == follower.id {
			b.ReportMetric(float64(m.LastIndex), "raft-index")
		}
	}
}

// fillCluster appends batches of 100 records through c, 8 at a time,
// until the log in dir holds segments segments (at least 100 records).
func fillCluster(b *testing.B, c *client.Client, dir string, segments int) {
	b.Helper()
	batch := make([]messages.Record, 100)
	for i := range batch {
		batch[i] = messages.Record{Value: make([]byte, scalePayload)}
	}
	for first := true; first || countStores(b, dir) < segments; first = false {
		errs := make(chan error, 8)
		for range cap(errs) {
			go func() {
				_, err := c.Append(context.Background(), batch...)
				errs <- err
			}()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				b.Fatalf("fill the cluster: %v", err)
			}
		}
	}
	if n := countStores(b, dir); n != segments {
		b.Fatalf("the follower's log has %d segments, want %d", n, segments)
	}
}
