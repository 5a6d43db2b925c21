package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment/snapshot"
	"github.com/evlog/evlog/service/client"
)

// Snapshot streams the log's records into a writer, in the format evlog
// restore reads; segment/snapshot's Reader proves the copy intact.
func ExampleClient_Snapshot() {
	url, stop := startEvlog()
	defer stop()
	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c := client.New(nc)
	ctx := context.Background()
	if _, err := c.Append(ctx, messages.Record{Value: []byte("a")}, messages.Record{Value: []byte("b")}, messages.Record{Value: []byte("c")}); err != nil {
		log.Fatal(err)
	}

	var buf bytes.Buffer
	sum, err := c.Snapshot(ctx, &buf, 1) // from offset 1 on
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("offsets %d to %d: %d records\n", sum.First, sum.Next-1, sum.Records())

	r, err := snapshot.NewReader(&buf)
	if err != nil {
		log.Fatal(err)
	}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break // the trailer checked out
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(rec.Offset, string(rec.Value))
	}
	// Output:
	// offsets 1 to 2: 2 records
	// 1 b
	// 2 c
}
