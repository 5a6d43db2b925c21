package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/local"
)

// startEvlog starts what the examples talk to: an embedded nats-server on
// a free loopback port and an evlog service on it, with its log in a new
// temporary directory. It returns the server's URL and what stops and
// removes it all. It is the examples' one piece of setup, so that a change
// in how a service starts is made here alone.
func startEvlog() (url string, stop func()) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		log.Fatal("nats-server not ready")
	}
	dir, err := os.MkdirTemp("", "evlog-example-")
	if err != nil {
		log.Fatal(err)
	}
	l, err := segment.NewLog(dir, segment.Config{})
	if err != nil {
		log.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns))
	if err != nil {
		log.Fatal(err)
	}
	ll, err := local.New(l, local.Config{})
	if err != nil {
		log.Fatal(err)
	}
	svc, err := service.New(nc, ll, service.Config{})
	if err != nil {
		log.Fatal(err)
	}
	return ns.ClientURL(), func() {
		// The order a process owning them all must keep: stop taking
		// requests, send the last replies, then close the log.
		err := errors.Join(svc.Stop(), nc.Flush())
		nc.Close()
		err = errors.Join(err, ll.Close(), l.Close())
		ns.Shutdown()
		ns.WaitForShutdown()
		if err = errors.Join(err, os.RemoveAll(dir)); err != nil {
			log.Fatal(err)
		}
	}
}

// Connect to NATS and make a client of the evlog service on it. The
// client does not own the connection: close it when done.
func ExampleNew() {
	url, stop := startEvlog()
	defer stop()

	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c := client.New(nc, client.WithTimeout(2*time.Second))

	info, err := c.Info(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("records:", info.NextOffset-info.LowestOffset)
	// Output: records: 0
}

// Append returns once the records are durable, with their offsets.
func ExampleClient_Append() {
	url, stop := startEvlog()
	defer stop()
	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c := client.New(nc)

	reply, err := c.Append(context.Background(),
		messages.Record{Value: []byte("first")},
		messages.Record{Key: []byte("user-7"), Value: []byte("second")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("appended", reply.FirstOffset, "to", reply.LastOffset)
	// Output: appended 0 to 1
}

// Read returns records from an offset on, and the offset to read next.
func ExampleClient_Read() {
	url, stop := startEvlog()
	defer stop()
	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c := client.New(nc)
	ctx := context.Background()
	for _, v := range []string{"a", "b", "c"} {
		if _, err := c.Append(ctx, messages.Record{Value: []byte(v)}); err != nil {
			log.Fatal(err)
		}
	}

	reply, err := c.Read(ctx, 1, client.ReadOptions{MaxRecords: 10})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range reply.Records {
		fmt.Println(r.Offset, string(r.Value))
	}
	fmt.Println("next:", reply.NextOffset)
	// Output:
	// 1 b
	// 2 c
	// next: 3
}

// Follow hands over every record from an offset on, the history first and
// then new records as they commit, until the handler or the context ends
// it.
func ExampleClient_Follow() {
	url, stop := startEvlog()
	defer stop()
	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c := client.New(nc)
	ctx := context.Background()
	for _, v := range []string{"created", "paid", "shipped"} {
		if _, err := c.Append(ctx, messages.Record{Value: []byte(v)}); err != nil {
			log.Fatal(err)
		}
	}

	// The handler's error ends Follow and comes back as is.
	errSeen := errors.New("seen the shipment")
	err = c.Follow(ctx, 1, func(r messages.Record) error {
		fmt.Println(r.Offset, string(r.Value))
		if string(r.Value) == "shipped" {
			return errSeen
		}
		return nil
	})
	fmt.Println(errors.Is(err, errSeen))
	// Output:
	// 1 paid
	// 2 shipped
	// true
}

// The service's errors come back as *client.Error; match them with
// errors.Is against the sentinels, or look at the code with errors.As.
func ExampleError() {
	url, stop := startEvlog()
	defer stop()
	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c := client.New(nc)

	// The log is empty: offset 100 lies beyond its end.
	_, err = c.Read(context.Background(), 100, client.ReadOptions{})
	fmt.Println(errors.Is(err, client.ErrOffsetOutOfRange))
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println("code:", e.Code)
	}
	// Output:
	// true
	// code: 404
}
