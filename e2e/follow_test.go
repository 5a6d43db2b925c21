package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
)

// appendConcurrently runs writers goroutines that each append perWriter
// records in batches of batch, with values "<tag><writer>-<i>", and
// returns once all are acknowledged.
func appendConcurrently(t *testing.T, e *env, tag string, writers, perWriter, batch int) {
	t.Helper()
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := 0; i < perWriter; i += batch {
				recs := make([]messages.Record, 0, batch)
				for j := i; j < min(i+batch, perWriter); j++ {
					recs = append(recs, rec(fmt.Appendf(nil, "%s%d-%d", tag, w, j)))
				}
				if _, err := e.c.Append(ctx, recs...); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("append: %v", err)
	}
}

func TestFollowHistoryThenLive(t *testing.T) {
	e := newEnv(t, service.Config{})
	const history, writers, perWriter = 500, 4, 300
	total := history + writers*perWriter
	appendConcurrently(t, e, "h", 1, history, 50)

	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var (
		mu   sync.Mutex
		seen []messages.Record
	)
	done := make(chan error, 1)
	go func() {
		done <- e.c.Follow(ctx, 0, func(r messages.Record) error {
			mu.Lock()
			seen = append(seen, r)
			mu.Unlock()
			return nil
		})
	}()
	// Appends race with the follower's hand-over from history to live.
	appendConcurrently(t, e, "w", writers, perWriter, 7)
	waitFor(t, "the follower to see every record", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= total
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("follow returned %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != total {
		t.Fatalf("saw %d records, want %d", len(seen), total)
	}
	values := make(map[string]bool, total)
	for i, r := range seen {
		if r.Offset != uint64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
		if values[string(r.Value)] {
			t.Fatalf("value %q seen twice", r.Value)
		}
		values[string(r.Value)] = true
	}
	for w := range writers {
		for j := range perWriter {
			if !values[fmt.Sprintf("w%d-%d", w, j)] {
				t.Fatalf("value w%d-%d missing", w, j)
			}
		}
	}
}

func TestFollowHandlerError(t *testing.T) {
	e := newEnv(t, service.Config{})
	appendConcurrently(t, e, "w", 1, 10, 10)
	stop := errors.New("enough")
	n := 0
	err := e.c.Follow(ctxT(t), 3, func(r messages.Record) error {
		if r.Offset != uint64(3+n) {
			t.Fatalf("offset %d, want %d", r.Offset, 3+n)
		}
		n++
		if n == 5 {
			return stop
		}
		return nil
	})
	if err != stop || n != 5 {
		t.Fatalf("follow returned %v after %d records", err, n)
	}
}

func TestCommittedNotifications(t *testing.T) {
	e := newEnv(t, service.Config{})
	notes := make(chan messages.Committed, 10000)
	sub, err := e.nc.Subscribe("evlog.committed", func(m *nats.Msg) {
		var c messages.Committed
		if err := messages.Unmarshal(m.Data, &c); err != nil {
			t.Errorf("decode notification: %v", err)
			return
		}
		notes <- c
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	const writers, perWriter = 8, 200
	appendConcurrently(t, e, "w", writers, perWriter, 5)
	next := uint64(0)
	count := 0
	deadline := time.After(10 * time.Second)
	for next < writers*perWriter {
		select {
		case c := <-notes:
			if c.FirstOffset != next || c.LastOffset < c.FirstOffset {
				t.Fatalf("notification %+v, want one from %d", c, next)
			}
			next = c.LastOffset + 1
			count++
		case <-deadline:
			t.Fatalf("notifications stop at %d", next)
		}
	}
	if next != writers*perWriter {
		t.Fatalf("notifications end at %d", next)
	}
	t.Logf("%d appends acknowledged in %d commits", writers*perWriter/5, count)
}

// TestFollowRidesOutRestart: a follower keeps following while the service
// stops and starts again on the same data, and sees every record exactly
// once, in order.
func TestFollowRidesOutRestart(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	url := ns.ClientURL()
	dir := t.TempDir()
	n := startNode(t, url, dir, smallSegments(), service.Config{})
	nc := connect(t, url)
	c := client.New(nc)
	ctx := ctxT(t)
	for i := range 10 {
		if _, err := c.Append(ctx, rec(val(i))); err != nil {
			t.Fatal(err)
		}
	}

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var seen []uint64
	done := make(chan error, 1)
	go func() {
		done <- c.Follow(fctx, 0, func(r messages.Record) error {
			mu.Lock()
			defer mu.Unlock()
			if !bytes.Equal(r.Value, val(int(r.Offset))) {
				return fmt.Errorf("offset %d holds %q", r.Offset, r.Value)
			}
			seen = append(seen, r.Offset)
			return nil
		})
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	waitFor(t, "history", func() bool { return count() == 10 })

	n.stop(t)
	// The follower is now retrying against no service.
	startNode(t, url, dir, smallSegments(), service.Config{})
	for i := 10; i < 20; i++ {
		if _, err := c.Append(ctx, rec(val(i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "records after the restart", func() bool { return count() == 20 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("follow ended with %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, off := range seen {
		if off != uint64(i) {
			t.Fatalf("follower saw offsets %v", seen)
		}
	}
}

// TestFollowRetriesLostRead: a long poll that is never answered (a service
// killed mid-poll, a reply lost in a reconnect) times out; Follow retries
// it rather than ending, since reads are idempotent.
func TestFollowRetriesLostRead(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	nc := connect(t, ns.ClientURL())
	responder := connect(t, ns.ClientURL())
	var calls sync.Mutex
	n := 0
	reply, err := messages.Marshal(messages.ReadReply{Records: []messages.Record{{Value: val(0), Offset: 0, Timestamp: 1}}, NextOffset: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := responder.Subscribe(messages.NewSubjects(messages.DefaultPrefix).Read, func(m *nats.Msg) {
		calls.Lock()
		n++
		first := n == 1
		calls.Unlock()
		if !first { // the first read is lost
			m.Respond(reply)
		}
	}); err != nil {
		t.Fatal(err)
	}
	c := client.New(nc, client.WithTimeout(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(ctxT(t), 20*time.Second)
	defer cancel()
	got := make(chan uint64, 1)
	err = c.Follow(ctx, 0, func(r messages.Record) error {
		got <- r.Offset
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("follow ended with %v, want it to retry the lost read and go on", err)
	}
	if off := <-got; off != 0 {
		t.Fatalf("got offset %d", off)
	}
}
