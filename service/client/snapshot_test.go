package client

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/servicetest"
)

// chunk is what a scripted snapshot service sends: data, and the headers
// beyond the sequence number, which seq overrides when not empty.
type chunk struct {
	data    string
	seq     string
	headers map[string]string
}

// serveScript answers every snapshot request on nc with chunks, waiting
// for each acknowledgement, and returns the acknowledgements it got.
func serveScript(t *testing.T, nc *nats.Conn, chunks []chunk) <-chan string {
	t.Helper()
	acks := make(chan string, 100)
	done := make(chan struct{})
	ackSub, err := nc.Subscribe(nc.NewInbox(), func(m *nats.Msg) { acks <- string(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ackSub.Unsubscribe() })
	got := make(chan string, 100)
	sub, err := nc.Subscribe("evlog.snapshot", func(req *nats.Msg) {
		for i, c := range chunks {
			msg := nats.NewMsg(req.Reply)
			msg.Reply = ackSub.Subject
			msg.Data = []byte(c.data)
			msg.Header.Set(messages.SnapshotSeqHeader, cmpOr(c.seq, strconv.Itoa(i)))
			for k, v := range c.headers {
				msg.Header.Set(k, v)
			}
			if err := nc.PublishMsg(msg); err != nil {
				return
			}
			select {
			case a := <-acks:
				got <- a
			case <-done:
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	// The client asks on another connection: the server must know of the
	// subscription before it does, or the request finds no responders.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// First of the cleanups: a handler still waiting for an
	// acknowledgement returns.
	t.Cleanup(func() { close(done) })
	return got
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func connect(t *testing.T, ns *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestSnapshotReceives(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	first := map[string]string{messages.SnapshotFirstHeader: "3", messages.SnapshotNextHeader: "9"}
	errChunk := map[string]string{"Nats-Service-Error-Code": "500", "Nats-Service-Error": "internal error: read 5: damaged"}
	tests := []struct {
		name   string
		chunks []chunk
		want   string // what w gets
		acks   []string
		err    error // nil: success
	}{
		{"complete", []chunk{{data: "ab", headers: first}, {data: "cd"}, {data: "e", headers: map[string]string{messages.SnapshotEndHeader: "5"}}},
			"abcde", []string{"0", "1", "2"}, nil},
		{"one chunk", []chunk{{data: "abc", headers: map[string]string{messages.SnapshotFirstHeader: "3", messages.SnapshotNextHeader: "9", messages.SnapshotEndHeader: "3"}}},
			"abc", []string{"0"}, nil},
		{"error chunk", []chunk{{data: "ab", headers: first}, {headers: errChunk}},
			"ab", []string{"0"}, ErrInternal},
		{"lost chunk", []chunk{{data: "ab", headers: first}, {data: "cd", seq: "2"}},
			"ab", []string{"0", ""}, errors.New("lost")},
		{"end at the wrong length", []chunk{{data: "ab", headers: first}, {data: "cd", headers: map[string]string{messages.SnapshotEndHeader: "5"}}},
			"abcd", []string{"0", ""}, errors.New("length")},
		{"no range", []chunk{{data: "ab"}},
			"", []string{""}, errors.New("range")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acks := serveScript(t, connect(t, ns), tc.chunks)
			c := New(connect(t, ns), WithTimeout(2*time.Second))
			var w bytes.Buffer
			var progress []int64
			sum, err := c.Snapshot(context.Background(), &w, 3, OnSnapshotProgress(func(s SnapshotSummary) { progress = append(progress, s.Bytes) }))
			switch {
			case tc.err == nil && err != nil:
				t.Fatal(err)
			case tc.err == nil && (sum.First != 3 || sum.Next != 9 || sum.Records() != 6 || sum.Bytes != int64(len(tc.want)) || sum.Chunks != len(tc.chunks)):
				t.Fatalf("summary %+v", sum)
			case tc.err == nil && len(progress) != len(tc.chunks):
				t.Fatalf("progress %v", progress)
			case tc.err != nil && err == nil:
				t.Fatalf("accepted: %+v", sum)
			case errors.Is(tc.err, ErrInternal) && !errors.Is(err, ErrInternal):
				t.Fatalf("got %v, want a 500", err)
			}
			if w.String() != tc.want {
				t.Fatalf("wrote %q, want %q", w.String(), tc.want)
			}
			for i, want := range tc.acks {
				select {
				case got := <-acks:
					if got != want {
						t.Fatalf("acknowledgement %d is %q, want %q", i, got, want)
					}
				case <-time.After(2 * time.Second):
					t.Fatalf("no acknowledgement %d", i)
				}
			}
		})
	}
}

func TestSnapshotNoService(t *testing.T) {
	c := New(connect(t, servicetest.NATS(t, nil)))
	if _, err := c.Snapshot(context.Background(), &bytes.Buffer{}, 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

// TestSnapshotSilentService times out on a service that stops sending.
func TestSnapshotSilentService(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	nc := connect(t, ns)
	sub, err := nc.Subscribe("evlog.snapshot", func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	// The request goes out on another connection: the server must hold
	// the subscription first, or it answers "no responders" instead.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := New(connect(t, ns), WithTimeout(200*time.Millisecond))
	if _, err := c.Snapshot(context.Background(), &bytes.Buffer{}, 0); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("got %v, want a timeout", err)
	}
}
