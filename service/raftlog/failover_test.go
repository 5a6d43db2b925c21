package raftlog

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// writer appends batches with ids through whichever node leads, retrying
// each until it is acknowledged, and remembers what was acknowledged.
type writer struct {
	c     *cluster
	mu    sync.Mutex
	acked map[string][2]uint64 // id -> first, last
	next  int
}

// appendOne appends the next batch, retrying on any leader until it is
// acknowledged or the deadline passes.
func (w *writer) appendOne(deadline time.Time) error {
	w.mu.Lock()
	id := fmt.Sprintf("w-%d", w.next)
	w.next++
	w.mu.Unlock()
	for {
		var last error
		for _, nd := range w.c.runningLocked() {
			if !nd.Leader() {
				continue
			}
			a := app(id, id+"-x", id+"-y")
			if last = do(nd, a); last == nil {
				w.mu.Lock()
				w.acked[id] = [2]uint64{a.First, a.Last}
				w.mu.Unlock()
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("append %s: not acknowledged in time: %v", id, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// check verifies that every node still running holds every acknowledged
// batch at its offsets.
func (w *writer) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, nd := range w.c.running() {
		for id, span := range w.acked {
			r, err := readRecord(nd.log, span[0])
			if err != nil {
				t.Fatalf("%s: acknowledged %s at %d: %v", nd.cfg.NodeID, id, span[0], err)
			}
			if string(r.Value) != id+"-x" {
				t.Fatalf("%s: offset %d holds %q, acknowledged for %s", nd.cfg.NodeID, span[0], r.Value, id)
			}
		}
	}
}

// TestLeaderFailover: the leader goes down while appends go on; a new one
// is elected, appends continue, nothing acknowledged is lost, the nodes
// converge byte for byte, and the old leader catches up when it returns.
func TestLeaderFailover(t *testing.T) {
	c := newCluster(t, 3, nil)
	w := &writer{c: c, acked: map[string][2]uint64{}}
	old := c.leader()
	stopAppends := make(chan struct{})
	var wg sync.WaitGroup
	var appendErr error
	wg.Go(func() {
		for {
			select {
			case <-stopAppends:
				return
			default:
			}
			if err := w.appendOne(time.Now().Add(20 * time.Second)); err != nil {
				appendErr = err
				return
			}
		}
	})
	waitFor(t, 10*time.Second, "appends before the failover", func() bool { return old.log.CommittedOffset() >= 40 })
	c.mu.Lock()
	oldLog := old.log
	old.log = nil
	c.mu.Unlock()
	oldLog.Detach()
	if err := oldLog.Close(); err != nil {
		t.Fatal(err)
	}
	var nl *node
	waitFor(t, 15*time.Second, "a new leader", func() bool {
		for _, nd := range c.running() {
			if nd.log.Leader() {
				nl = nd
				return true
			}
		}
		return false
	})
	mark := nl.log.CommittedOffset()
	waitFor(t, 10*time.Second, "appends after the failover", func() bool { return nl.log.CommittedOffset() >= mark+40 })
	close(stopAppends)
	wg.Wait()
	if appendErr != nil {
		t.Fatal(appendErr)
	}
	want := nl.log.CommittedOffset()
	c.converged(want)
	w.check(t)

	c.restart(old)
	c.converged(want)
	w.check(t)
}

// TestFiveNodesLoseTwo: a cluster of five goes on taking appends with two
// nodes down, the leader among them.
func TestFiveNodesLoseTwo(t *testing.T) {
	c := newCluster(t, 5, nil)
	c.mustDo(app("", "before"))
	ld := c.leader()
	c.stop(ld)
	for _, nd := range c.nodes {
		if nd.log != nil {
			c.stop(nd)
			break
		}
	}
	// Two of five down may cost the new leader its first term in an
	// election or two on a busy machine: an append then has an unknown
	// outcome and is retried with its id, as clients do.
	for i := range 5 {
		c.mustRetry(fmt.Sprintf("two-down-%d", i), "v")
	}
	c.converged(6)
	// Retries stored nothing twice.
	if next := c.leader().log.CommittedOffset(); next != 6 {
		t.Fatalf("the log holds %d records, want 6: a retry appended twice", next)
	}
}
