package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/client"
)

// clusterCyclesEnv sets how many leaders TestClusterFailover kills, for
// soak runs; a few by default.
const clusterCyclesEnv = "EVLOG_CLUSTER_CYCLES"

// clusterWriter appends records with ids, one at a time, retrying
// through leader changes, and remembers each acknowledgement.
type clusterWriter struct {
	c     *client.Client
	retry client.AppendOption

	mu   sync.Mutex
	next int               // the number of the next record
	acks map[string]uint64 // value (which is also the id) -> offset
	err  error
}

func (w *clusterWriter) append() error {
	w.mu.Lock()
	i := w.next
	w.next++
	w.mu.Unlock()
	v := fmt.Sprintf("cluster-%06d", i)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := w.c.AppendWith(ctx, []messages.Record{{Value: []byte(v)}}, client.WithID(v), w.retry)
	for outcomeUnknown(err) && ctx.Err() == nil {
		// A leader that failed with the append in flight cannot say
		// whether it committed: the id makes the retry safe.
		rep, err = w.c.AppendWith(ctx, []messages.Record{{Value: []byte(v)}}, client.WithID(v), w.retry)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.err = fmt.Errorf("append %s: %w", v, err)
		return w.err
	}
	w.acks[v] = rep.FirstOffset
	return nil
}

// outcomeUnknown says an append failed with an outcome the service could
// not know: its records may or may not be in the log.
func outcomeUnknown(err error) bool {
	return errors.Is(err, client.ErrInternal) && strings.Contains(err.Error(), "may or may not commit")
}

func (w *clusterWriter) acked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acks)
}

// awaitAcked waits until n appends are acknowledged. A writer that
// stopped on an error fails the test at once with it, rather than after
// the wait, as a cluster that took no appends.
func (w *clusterWriter) awaitAcked(bc *binaryCluster, c *client.Client, what string, n int) {
	bc.tb.Helper()
	bc.await(c, what, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.err != nil {
			bc.tb.Fatalf("waiting for %s: the writer stopped: %v", what, w.err)
		}
		return len(w.acks) >= n
	})
}

// run appends until stop is closed or an append fails for good.
func (w *clusterWriter) run(stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		if err := w.append(); err != nil {
			return err
		}
	}
}

// TestClusterFailover runs three nodes of the real binary on one
// nats-server and kills the leader with SIGKILL while a client appends
// with ids and retries: a new leader takes over each time, a follower of
// the log sees every offset once, the leader's notifications leave no
// gap, and once the nodes are stopped every node's directory holds every
// acknowledged record exactly once, at its offset, byte for byte alike.
func TestClusterFailover(t *testing.T) {
	bc, c, w, _ := startClusterTest(t)
	cycles := campaignSetting(t, clusterCyclesEnv, 2)
	announced := followCommitted(t, connect(t, bc.url))
	followed, stopFollow := followAll(t, c)
	for range 20 {
		if err := w.append(); err != nil {
			t.Fatal(err)
		}
	}
	for cycle := range cycles {
		st := bc.awaitStatus(c, "a leader", allUp)
		leader := bc.node(st.Leader)
		stop := make(chan struct{})
		wrote := make(chan error, 1)
		go func() { wrote <- w.run(stop) }()
		before := w.acked()
		w.awaitAcked(bc, c, "appends before the kill", before+20)
		bc.kill(leader)
		t.Logf("cycle %d: killed the leader %s after %d acknowledgements", cycle, leader.id, w.acked())
		bc.awaitStatus(c, "a new leader", func(st messages.ClusterStatus) bool { return st.Leader != "" && st.Leader != leader.id })
		after := w.acked()
		w.awaitAcked(bc, c, "appends through the new leader", after+20)
		bc.start(leader)
		close(stop)
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	}
	n := uint64(w.acked())
	st := bc.awaitCaughtUp(c, n)
	t.Logf("%d records; final status %+v", n, st)
	bc.await(c, "the follower to see every record", func() bool { return len(followed()) >= int(n) })
	stopFollow()
	checkFollowed(t, followed(), w.acks)
	checkAnnounced(t, announced(), n)
	bc.finish(t, c, w)
}

// followCommitted collects the Committed notifications, in the order
// they arrive.
func followCommitted(t *testing.T, nc *nats.Conn) func() []messages.Committed {
	var mu sync.Mutex
	var got []messages.Committed
	sub, err := nc.Subscribe(messages.NewSubjects(messages.DefaultPrefix).Committed, func(m *nats.Msg) {
		var c messages.Committed
		if err := messages.Unmarshal(m.Data, &c); err != nil {
			t.Errorf("notification %q: %v", m.Data, err)
			return
		}
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() []messages.Committed {
		mu.Lock()
		defer mu.Unlock()
		return append([]messages.Committed(nil), got...)
	}
}

// followAll follows the log from offset 0 on a goroutine of its own,
// which the returned stop ends and waits for.
func followAll(t *testing.T, c *client.Client) (records func() []messages.Record, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []messages.Record
	done := make(chan error, 1)
	go func() {
		done <- c.Follow(ctx, 0, func(r messages.Record) error {
			mu.Lock()
			got = append(got, r)
			mu.Unlock()
			return nil
		})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("follow: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return func() []messages.Record {
		mu.Lock()
		defer mu.Unlock()
		return append([]messages.Record(nil), got...)
	}, stop
}

// checkFollowed: the follower saw offsets 0, 1, 2... once each, with
// every acknowledged record at its offset.
func checkFollowed(t *testing.T, got []messages.Record, acks map[string]uint64) {
	t.Helper()
	for i, r := range got {
		if r.Offset != uint64(i) {
			t.Fatalf("follower: record %d has offset %d", i, r.Offset)
		}
	}
	for v, off := range acks {
		if off >= uint64(len(got)) || string(got[off].Value) != v {
			t.Fatalf("follower: acknowledged %s at %d not there", v, off)
		}
	}
}

// checkAnnounced: the notifications, whoever the leader was, cover every
// offset to n, in order, with no gap (a range may come twice around a
// leader change).
func checkAnnounced(t *testing.T, got []messages.Committed, n uint64) {
	t.Helper()
	var next uint64
	for _, c := range got {
		if c.FirstOffset > next {
			t.Fatalf("notifications skip %d to %d: %+v", next, c.FirstOffset-1, got)
		}
		next = max(next, c.LastOffset+1)
	}
	if next < n {
		t.Fatalf("notifications end at %d, want %d", next, n)
	}
}

// checkDirs reads every stopped node's directory: each holds the same
// bytes, and every acknowledged record exactly once at its offset.
func checkDirs(t *testing.T, bc *binaryCluster, acks map[string]uint64) {
	t.Helper()
	var first []byte
	for i, nd := range bc.nodes {
		raw, recs := readDir(t, nd.dir)
		if i == 0 {
			first = raw
		} else if !bytes.Equal(raw, first) {
			t.Errorf("%s's log differs from %s's (%d and %d bytes)", nd.id, bc.nodes[0].id, len(raw), len(first))
		}
		seen := map[string]int{}
		for _, r := range recs {
			seen[string(r.Value)]++
		}
		for v, off := range acks {
			if seen[v] != 1 || off >= uint64(len(recs)) || string(recs[off].Value) != v {
				t.Fatalf("%s: acknowledged %s at %d is there %d times", nd.id, v, off, seen[v])
			}
		}
		if len(recs) != len(acks) {
			t.Errorf("%s: %d records, %d acknowledged", nd.id, len(recs), len(acks))
		}
	}
}
