package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
)

// TestFollowOnWait checks that Follow says once that it waits for an
// absent service, and once that it is back, before the first record.
func TestFollowOnWait(t *testing.T) {
	ns := runDenyingServer(t)
	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo("reader", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	events := make(chan error, 10)
	got := make(chan uint64, 1)
	done := make(chan error, 1)
	stop := errors.New("stop")
	go func() {
		done <- c.Follow(ctx, 0, func(r messages.Record) error {
			got <- r.Offset
			return stop
		}, OnWait(func(err error) { events <- err }))
	}()
	if err := <-events; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first event %v, want ErrUnavailable", err)
	}
	// Let Follow retry a few times unanswered: it must not say so again.
	time.Sleep(300 * time.Millisecond)
	sub, err := nc.Subscribe("evlog.read", func(m *nats.Msg) {
		body, _ := messages.Marshal(&messages.ReadReply{Records: []messages.Record{{Offset: 0, Value: []byte("x")}}, NextOffset: 1})
		_ = m.Respond(body)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := <-events; err != nil {
		t.Fatalf("second event %v, want nil: the service is back", err)
	}
	if off := <-got; off != 0 {
		t.Fatalf("record %d", off)
	}
	if err := <-done; !errors.Is(err, stop) {
		t.Fatalf("follow: %v", err)
	}
	if len(events) != 0 {
		t.Fatalf("more events: %v", <-events)
	}
}
