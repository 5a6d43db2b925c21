package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/client"
)

// appendValues appends one record a value.
func appendValues(t testing.TB, c *client.Client, values ...string) {
	t.Helper()
	for _, v := range values {
		if _, err := c.Append(context.Background(), messages.Record{Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
}

// Read the records appended since a moment.
func ExampleClient_ReadSince() {
	url, stop := startEvlog()
	defer stop()
	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c := client.New(nc)
	ctx := context.Background()
	if _, err := c.Append(ctx, messages.Record{Value: []byte("yesterday")}); err != nil {
		log.Fatal(err)
	}
	since := time.Now()
	if _, err := c.Append(ctx, messages.Record{Value: []byte("today")}); err != nil {
		log.Fatal(err)
	}
	reply, err := c.ReadSince(ctx, since, client.ReadOptions{MaxRecords: 10})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range reply.Records {
		fmt.Println(r.Offset, string(r.Value))
	}
	// Output:
	// 1 today
}

// TestFollowSince follows from a time between records, and from one after
// every record, which starts at the end and so gets the next append.
func TestFollowSince(t *testing.T) {
	url, stop := startEvlog()
	defer stop()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := client.New(nc)
	appendValues(t, c, "a", "b")
	mid := time.Now()
	appendValues(t, c, "c")

	follow := func(since time.Time, n int) (<-chan uint64, <-chan error) {
		got := make(chan uint64, 10)
		done := make(chan error, 1)
		enough := errors.New("enough")
		go func() {
			seen := 0
			done <- c.Follow(context.Background(), 0, func(r messages.Record) error {
				got <- r.Offset
				if seen++; seen == n {
					return enough
				}
				return nil
			}, client.FollowSince(since))
		}()
		return got, done
	}
	got, done := follow(mid, 2)
	if off := <-got; off != 2 {
		t.Fatalf("first record followed from between b and c: %d, want 2", off)
	}
	later, laterDone := follow(time.Now().Add(time.Hour), 1)
	appendValues(t, c, "d")
	if off := <-got; off != 3 {
		t.Fatalf("second record: %d, want 3", off)
	}
	if err := <-done; err == nil || err.Error() != "enough" {
		t.Fatalf("follow: %v", err)
	}
	// Nothing was at or after an hour from now: that follower started at
	// the end, and new records follow from there.
	if off := <-later; off != 3 {
		t.Fatalf("follower from an hour ahead got record %d, want 3, the next appended", off)
	}
	if err := <-laterDone; err == nil || err.Error() != "enough" {
		t.Fatalf("follow: %v", err)
	}
}
