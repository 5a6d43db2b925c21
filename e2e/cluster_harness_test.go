package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
)

// binaryCluster is three `evlog serve --node-id` processes of the real
// binary on one nats-server, each with its own directory and Raft port.
type binaryCluster struct {
	tb    testing.TB
	bin   string
	url   string
	peers string
	nodes []*clusterProc
}

// clusterProc is one node of a binaryCluster, running or not.
type clusterProc struct {
	id, dir, raftAddr string
	extra             []string // more flags for its `evlog serve`
	cmd               *exec.Cmd
	stderr            *servicetest.Buffer
	done              chan error // nil when the node is not running
}

func newBinaryCluster(tb testing.TB, bin, url string, n int) *binaryCluster {
	tb.Helper()
	return newBinaryClusterArgs(tb, bin, url, n)
}

// newBinaryClusterArgs is newBinaryCluster with more flags for every
// node's evlog serve.
func newBinaryClusterArgs(tb testing.TB, bin, url string, n int, args ...string) *binaryCluster {
	tb.Helper()
	return newBinaryClusterEach(tb, bin, url, n, func(int) []string { return args })
}

// newBinaryClusterEach is newBinaryCluster with args(i) more flags for
// node i's evlog serve, for flags that differ between nodes (a port).
func newBinaryClusterEach(tb testing.TB, bin, url string, n int, args func(i int) []string) *binaryCluster {
	tb.Helper()
	bc := &binaryCluster{tb: tb, bin: bin, url: url}
	var peers []string
	for i := range n {
		nd := &clusterProc{id: fmt.Sprintf("n%d", i), dir: tb.TempDir(), raftAddr: fmt.Sprintf("127.0.0.1:%d", freePort(tb)), extra: args(i)}
		bc.nodes = append(bc.nodes, nd)
		peers = append(peers, nd.id+"="+nd.raftAddr)
	}
	bc.peers = strings.Join(peers, ",")
	for _, nd := range bc.nodes {
		bc.start(nd)
	}
	tb.Cleanup(func() {
		for _, nd := range bc.nodes {
			bc.kill(nd)
		}
	})
	return bc
}

// start runs nd's `evlog serve`, on its directory and Raft port.
func (bc *binaryCluster) start(nd *clusterProc) {
	bc.tb.Helper()
	args := []string{"serve", "--dir", nd.dir, "--nats-url", bc.url,
		"--node-id", nd.id, "--raft-addr", nd.raftAddr, "--peers", bc.peers, "--log-level", "warn"}
	nd.cmd = exec.Command(bc.bin, append(args, nd.extra...)...)
	nd.stderr = &servicetest.Buffer{}
	nd.cmd.Stderr = nd.stderr
	if err := nd.cmd.Start(); err != nil {
		bc.tb.Fatalf("start %s: %v", nd.id, err)
	}
	done := make(chan error, 1)
	go func(cmd *exec.Cmd) { done <- cmd.Wait() }(nd.cmd)
	nd.done = done
}

// signal sends sig to nd, which must be running.
func (bc *binaryCluster) signal(nd *clusterProc, sig syscall.Signal) {
	bc.tb.Helper()
	if nd.done == nil {
		bc.tb.Fatalf("%s is not running", nd.id)
	}
	if err := nd.cmd.Process.Signal(sig); err != nil {
		bc.tb.Fatalf("signal %s: %v", nd.id, err)
	}
}

// exited waits for nd, just started, to exit on its own, and returns
// how it exited.
func (bc *binaryCluster) exited(nd *clusterProc) error {
	bc.tb.Helper()
	select {
	case err := <-nd.done:
		nd.done = nil
		return err
	case <-time.After(30 * time.Second):
		bc.tb.Fatalf("%s did not exit\n%s", nd.id, nd.stderr)
		return nil
	}
}

// kill ends nd with SIGKILL, if it runs, and waits for it.
func (bc *binaryCluster) kill(nd *clusterProc) {
	if nd.done == nil {
		return
	}
	_ = nd.cmd.Process.Kill()
	<-nd.done
	nd.done = nil
}

// stop ends nd with SIGTERM, which must end it cleanly.
func (bc *binaryCluster) stop(nd *clusterProc) {
	bc.tb.Helper()
	if nd.done == nil {
		return
	}
	if err := nd.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		bc.tb.Fatalf("signal %s: %v", nd.id, err)
	}
	select {
	case err := <-nd.done:
		nd.done = nil
		if err != nil {
			bc.tb.Errorf("%s exited with %v\n%s", nd.id, err, nd.stderr)
		}
	case <-time.After(30 * time.Second):
		bc.tb.Fatalf("%s did not stop\n%s", nd.id, nd.stderr)
	}
}

func (bc *binaryCluster) node(id string) *clusterProc {
	for _, nd := range bc.nodes {
		if nd.id == id {
			return nd
		}
	}
	bc.tb.Fatalf("no node %q", id)
	return nil
}

// awaitStatus polls the cluster status until cond holds, for a minute at
// most, failing with every node's log otherwise.
func (bc *binaryCluster) awaitStatus(c *client.Client, what string, cond func(messages.ClusterStatus) bool) messages.ClusterStatus {
	bc.tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		st, err := c.ClusterStatus(ctx)
		cancel()
		if err == nil && cond(st) {
			return st
		}
		for _, nd := range bc.nodes {
			select {
			case err := <-nd.done:
				bc.tb.Fatalf("%s exited: %v\n%s", nd.id, err, nd.stderr)
			default:
			}
		}
		if time.Now().After(deadline) {
			var logs bytes.Buffer
			for _, nd := range bc.nodes {
				fmt.Fprintf(&logs, "--- %s\n%s", nd.id, nd.stderr)
			}
			bc.tb.Fatalf("timed out waiting for %s: last status %+v (%v)\n%s", what, st, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// await waits for cond as awaitStatus does, failing with the last
// status and every node's log: what a cluster test waits for (appends
// through a new leader, a follower catching up) is the cluster's doing.
func (bc *binaryCluster) await(c *client.Client, what string, cond func() bool) {
	bc.tb.Helper()
	bc.awaitStatus(c, what, func(messages.ClusterStatus) bool { return cond() })
}

// allUp says every member answers and a leader is known.
func allUp(st messages.ClusterStatus) bool {
	if st.Leader == "" {
		return false
	}
	for _, m := range st.Members {
		if m.State == messages.StateUnreachable {
			return false
		}
	}
	return true
}

// clusterRetry retries an append through leader changes and restarts
// for about a minute, with its id, so that a retry never appends twice.
var clusterRetry = client.WithRetry(client.RetryPolicy{Attempts: 1000, Backoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})

// startClusterTest is how a cluster test begins: it skips in -short
// mode, and otherwise runs a three-node cluster of the real binary (with
// args for every node) on a nats-server of its own, waits for a leader,
// and returns the cluster, a client, a writer that retries with ids, and
// the first status with every node up.
func startClusterTest(t *testing.T, args ...string) (*binaryCluster, *client.Client, *clusterWriter, messages.ClusterStatus) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs a three-node cluster")
	}
	bin := buildBinary(t)
	url := servicetest.NATS(t, nil).ClientURL()
	bc := newBinaryClusterArgs(t, bin, url, 3, args...)
	c := client.New(connect(t, url), client.WithTimeout(2*time.Second))
	st := bc.awaitStatus(c, "all three nodes and a leader", allUp)
	return bc, c, &clusterWriter{c: c, acks: map[string]uint64{}, retry: clusterRetry}, st
}

// awaitCaughtUp waits until every node answers and has applied n
// records, so that a stopped node's directory holds all of them.
func (bc *binaryCluster) awaitCaughtUp(c *client.Client, n uint64) messages.ClusterStatus {
	bc.tb.Helper()
	return bc.awaitStatus(c, "every node caught up", func(st messages.ClusterStatus) bool {
		if !allUp(st) {
			return false
		}
		for _, m := range st.Members {
			if m.AppliedOffset != n {
				return false
			}
		}
		return true
	})
}

// finish is how a cluster test ends: once every node has applied every
// record w got acknowledged, it stops the nodes and checks that each
// directory holds each of them once, at its offset, byte for byte alike.
func (bc *binaryCluster) finish(t *testing.T, c *client.Client, w *clusterWriter) {
	t.Helper()
	bc.awaitCaughtUp(c, uint64(w.acked()))
	for _, nd := range bc.nodes {
		bc.stop(nd)
	}
	checkDirs(t, bc, w.acks)
}

// readDir reads the replicated log in a stopped node's directory,
// offline: its stored bytes, back to back, and its records.
func readDir(tb testing.TB, dir string) ([]byte, []*messages.Record) {
	tb.Helper()
	l, err := segment.NewLog(filepath.Join(dir, "log"), segment.Config{})
	if err != nil {
		tb.Fatalf("open %s: %v", dir, err)
	}
	defer l.Close()
	low, err := l.LowestOffset()
	if err != nil {
		tb.Fatalf("%s: %v", dir, err)
	}
	var raw []byte
	var recs []*messages.Record
	for off := low; off < l.NextOffset(); off++ {
		b, err := l.ReadRawBatch(off, 1, 1<<20, nil)
		if err != nil || b.N != 1 {
			tb.Fatalf("read %s at %d: %v", dir, off, err)
		}
		raw = append(raw, b.Records...)
		r, err := l.Read(off)
		if err != nil {
			tb.Fatalf("read %s at %d: %v", dir, off, err)
		}
		recs = append(recs, r)
	}
	return raw, recs
}
