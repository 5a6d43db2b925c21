package raftlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
)

// testTimeouts are short enough for fast tests and long enough that a
// loaded 2-core machine under -race does not flap.
func testConfig(id, dir, bind string) Config {
	return Config{
		NodeID: id, Dir: dir, BindAddr: bind,
		HeartbeatTimeout: 400 * time.Millisecond, ElectionTimeout: 400 * time.Millisecond,
		LeaderLeaseTimeout: 200 * time.Millisecond, CommitTimeout: 10 * time.Millisecond,
		ApplyTimeout: 5 * time.Second,
	}
}

// node is one member of a test cluster.
type node struct {
	cfg Config
	log *Log
}

type cluster struct {
	t testing.TB
	// mu guards each node's log, which a test may stop while a writer
	// looks for the leader.
	mu    sync.Mutex
	nodes []*node
}

// newCluster starts n nodes on loopback, each in its own directory, and
// bootstraps them from the first.
func newCluster(t testing.TB, n int, tweak func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t}
	var conf raft.Configuration
	for i := range n {
		cfg := testConfig(fmt.Sprintf("n%d", i), t.TempDir(), "127.0.0.1:0")
		if tweak != nil {
			tweak(&cfg)
		}
		nd := &node{cfg: cfg}
		c.start(nd)
		nd.cfg.BindAddr = nd.log.Addr() // a restart takes the same port
		c.nodes = append(c.nodes, nd)
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(nd.log.Addr())})
	}
	if err := c.nodes[0].log.raft.BootstrapCluster(conf).Error(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			c.stop(nd)
		}
	})
	return c
}

// start opens nd's Log and attaches a receiver that answers each append's
// Token, a chan error.
func (c *cluster) start(nd *node) {
	c.t.Helper()
	l, err := Open(nd.cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := l.Attach(answer); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	nd.log = l
	c.mu.Unlock()
}

func answer(cm service.Commit) {
	for _, a := range cm.Appends {
		if ch, ok := a.Token.(chan error); ok {
			ch <- cm.Err
		}
	}
}

func (c *cluster) stop(nd *node) {
	c.mu.Lock()
	l := nd.log
	nd.log = nil
	c.mu.Unlock()
	if l == nil {
		return
	}
	l.Detach()
	if err := l.Close(); err != nil {
		c.t.Errorf("close %s: %v", nd.cfg.NodeID, err)
	}
}

// restart reopens a stopped node on its directory and address.
func (c *cluster) restart(nd *node) {
	c.t.Helper()
	c.start(nd)
}

// runningLocked returns the logs of the running nodes.
func (c *cluster) runningLocked() []*Log {
	c.mu.Lock()
	defer c.mu.Unlock()
	var r []*Log
	for _, nd := range c.nodes {
		if nd.log != nil {
			r = append(r, nd.log)
		}
	}
	return r
}

func (c *cluster) running() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var r []*node
	for _, nd := range c.nodes {
		if nd.log != nil {
			r = append(r, nd)
		}
	}
	return r
}

// leader waits for a running node to be the leader and returns it.
func (c *cluster) leader() *node {
	c.t.Helper()
	var found *node
	waitFor(c.t, 15*time.Second, "a leader", func() bool {
		found = nil
		for _, nd := range c.running() {
			if nd.log.Leader() {
				found = nd
			}
		}
		return found != nil
	})
	return found
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func app(id string, values ...string) *service.Append {
	a := &service.Append{ID: id, Token: make(chan error, 1)}
	for _, v := range values {
		a.Records = append(a.Records, &messages.Record{Value: []byte(v)})
	}
	return a
}

// do appends a on l and waits for its commit.
func do(l *Log, a *service.Append) error {
	if err := l.Append(a); err != nil {
		return err
	}
	select {
	case err := <-a.Token.(chan error):
		return err
	case <-time.After(20 * time.Second):
		return errors.New("no commit within 20s")
	}
}

// mustDo appends a through the leader, and fails the test if it fails.
func (c *cluster) mustDo(a *service.Append) {
	c.t.Helper()
	if err := do(c.leader().log, a); err != nil {
		c.t.Fatal(err)
	}
}

// mustRetry appends the records of an append with the id through the
// leader as a client would: an error whose outcome is unknown (the leader
// changed while the entry was in flight) is retried with the same id, on
// whichever node leads then, until one attempt is answered. The id makes
// the retries safe: the records are in the log once however often they
// were sent.
func (c *cluster) mustRetry(id string, values ...string) *service.Append {
	c.t.Helper()
	var err error
	for range 10 {
		a := app(id, values...)
		if err = do(c.leader().log, a); err == nil {
			return a
		}
		c.t.Logf("append %s: %v; retrying", id, err)
	}
	c.t.Fatalf("append %s: %v after 10 attempts", id, err)
	return nil
}

// raw returns the stored bytes of every record l holds.
func raw(t testing.TB, l *Log) []byte {
	t.Helper()
	st := l.Stats()
	var out []byte
	for off := st.LowestOffset; off < l.CommittedOffset(); {
		b, err := l.ReadRawBatch(off, 1000, 1<<20, nil)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		out = append(out, b.Records...)
		off += uint64(b.N)
	}
	return out
}

// converged waits until every running node has applied up to want and
// holds the same range of offsets, then checks that they hold the same
// bytes. The range's low end is waited for too: a follower can apply the
// records before a truncate after them, which a leader acknowledged once
// it applied it itself.
func (c *cluster) converged(want uint64) {
	c.t.Helper()
	waitFor(c.t, 20*time.Second, fmt.Sprintf("every node to apply up to %d", want), func() bool {
		var lows []uint64
		for _, nd := range c.running() {
			if nd.log.CommittedOffset() < want {
				return false
			}
			lows = append(lows, nd.log.Stats().LowestOffset)
		}
		return slices.Min(lows) == slices.Max(lows)
	})
	nodes := c.running()
	ref := raw(c.t, nodes[0].log)
	for _, nd := range nodes[1:] {
		if got := raw(c.t, nd.log); !bytes.Equal(got, ref) {
			c.t.Fatalf("%s holds %d bytes, %s %d, and they differ", nd.cfg.NodeID, len(got), nodes[0].cfg.NodeID, len(ref))
		}
	}
}

func wipe(t *testing.T, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
}

// readRecord reads the record at off from l.
func readRecord(l *Log, off uint64) (*messages.Record, error) {
	var r *messages.Record
	err := l.fsm.read(func(seg *segment.Log) error {
		var err error
		r, err = seg.Read(off)
		return err
	})
	return r, err
}
