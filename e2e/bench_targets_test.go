package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/client/load"
)

// benchRequest is what a request target remembers of a request: its number
// in the run and its records.
type benchRequest struct{ i, n int }

// requestTarget sends body(i, n) to subject through a load.Window, the
// request-reply engine of evlog bench, and completes request i when its
// reply arrives, with the error of the reply's headers or else of check.
// One subscription takes every reply, so the client does the same work
// per request whatever answers it.
func requestTarget(name string, nc *nats.Conn, subject string, body func(i, n int) ([]byte, error), check func(i, n int, m *nats.Msg) error) target {
	return target{name: name, open: func(b *testing.B, inflight int, complete func(int, error)) (sender, func()) {
		// waitProgress fails a run that stalls for stallLimit; the
		// window's timeout is only a backstop.
		w, err := load.NewWindow(nc, inflight, 2*stallLimit, func(a load.Answer[benchRequest]) {
			if a.Msg == nil {
				complete(a.Tag.i, a.Err)
				return
			}
			if err := replyError(a.Msg); err != nil {
				complete(a.Tag.i, err)
				return
			}
			complete(a.Tag.i, check(a.Tag.i, a.Tag.n, a.Msg))
		})
		if err != nil {
			b.Fatal(err)
		}
		send := func(i, n int) error {
			data, err := body(i, n)
			if err != nil {
				return err
			}
			// The run holds at most inflight requests, so this waits at
			// most for an answer being handed over to free its slot.
			s, _ := w.Acquire(nil)
			w.Send(s, subject, data, benchRequest{i, n})
			return nil
		}
		return send, func() {
			if err := w.Close(); err != nil {
				b.Error(err)
			}
			// A second reply to one request means two responders on one
			// subject.
			if n := w.Stray(); n > 0 {
				b.Errorf("%s: %d replies matched no request in flight", name, n)
			}
		}
	}}
}

// replyError is the error a reply carries in its headers: a service error
// or the server's "no responders".
func replyError(m *nats.Msg) error {
	if code := m.Header.Get("Nats-Service-Error-Code"); code != "" {
		return fmt.Errorf("service error %s: %s", code, m.Header.Get("Nats-Service-Error"))
	}
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return nats.ErrNoResponders
	}
	return nil
}

// appendBodies encodes append requests of n records of payload bytes,
// each n once. Only the sending goroutine uses it.
type appendBodies struct {
	payload []byte
	bodies  map[int][]byte
}

func newAppendBodies(payload int) *appendBodies {
	return &appendBodies{payload: make([]byte, payload), bodies: map[int][]byte{}}
}

func (a *appendBodies) body(_, n int) ([]byte, error) {
	if body, ok := a.bodies[n]; ok {
		return body, nil
	}
	recs := make([]messages.Record, n)
	for i := range recs {
		recs[i] = messages.Record{Value: a.payload}
	}
	body, err := messages.Marshal(&messages.AppendRequest{Records: recs})
	if err != nil {
		return nil, err
	}
	a.bodies[n] = body
	return body, nil
}

// appendTarget appends records of payload bytes under prefix, to evlog or
// to an echo responder. Both replies are decoded; evlog's offsets must
// cover the request's records (exact), the echo's canned ones cannot.
func appendTarget(name string, nc *nats.Conn, prefix string, payload int, exact bool) target {
	bodies := newAppendBodies(payload)
	return requestTarget(name, nc, messages.NewSubjects(prefix).Append, bodies.body, func(_, n int, m *nats.Msg) error {
		var rep messages.AppendReply
		if err := messages.Unmarshal(m.Data, &rep); err != nil {
			return err
		}
		if exact && rep.LastOffset-rep.FirstOffset+1 != uint64(n) {
			return fmt.Errorf("appended offsets %d-%d for %d records", rep.FirstOffset, rep.LastOffset, n)
		}
		return nil
	})
}

// readTarget reads a log of total records from evlog or an echo
// responder under prefix: request i reads its n records from offset
// i*batch, wrapping at total, which batch must divide. Replies are decoded;
// evlog's must hold exactly the records asked for (exact).
func readTarget(name string, nc *nats.Conn, prefix string, batch, total int, exact bool) target {
	offset := func(i int) uint64 { return uint64(i * batch % total) }
	body := func(i, n int) ([]byte, error) {
		return messages.Marshal(&messages.ReadRequest{Offset: offset(i), MaxRecords: uint64(n)})
	}
	return requestTarget(name, nc, messages.NewSubjects(prefix).Read, body, func(i, n int, m *nats.Msg) error {
		var rep messages.ReadReply
		if err := messages.Unmarshal(m.Data, &rep); err != nil {
			return err
		}
		if !exact {
			return nil
		}
		if len(rep.Records) != n || rep.Records[0].Offset != offset(i) || rep.NextOffset != offset(i)+uint64(n) {
			return fmt.Errorf("read at %d for %d records: got %d, next offset %d", offset(i), n, len(rep.Records), rep.NextOffset)
		}
		return nil
	})
}

// jsSyncTarget publishes one message of payload bytes at a time with
// JetStream's synchronous Publish, which waits for the stream's ack.
func jsSyncTarget(name string, js jetstream.JetStream, payload int) target {
	data := make([]byte, payload)
	return target{name: name, open: func(b *testing.B, _ int, complete func(int, error)) (sender, func()) {
		ctx := context.Background()
		return func(i, n int) error {
			if n != 1 {
				return fmt.Errorf("a JetStream publish holds one record, not %d", n)
			}
			_, err := js.Publish(ctx, benchSubject, data)
			complete(i, err)
			return nil
		}, func() {}
	}}
}

// asyncPublisher publishes with JetStream's PublishMsgAsync, at most
// maxAsyncPending unacknowledged, and completes each request from the ack
// handler.
type asyncPublisher struct {
	js jetstream.JetStream

	// mu guards the fields below.
	mu       sync.Mutex
	pending  map[*nats.Msg]int
	complete func(int, error)
}

// maxAsyncPending is the JetStream client's window of async publishes.
const maxAsyncPending = 256

// newAsyncPublisher creates the stream BENCH on nc's server and returns a
// publisher to it.
func newAsyncPublisher(b *testing.B, nc *nats.Conn) *asyncPublisher {
	b.Helper()
	p := &asyncPublisher{pending: map[*nats.Msg]int{}}
	p.js = createStream(b, nc, benchStream, benchSubject,
		jetstream.WithPublishAsyncMaxPending(maxAsyncPending),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) { p.finish(m, nil) }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) { p.finish(m, err) }),
	)
	return p
}

func (p *asyncPublisher) finish(m *nats.Msg, err error) {
	p.mu.Lock()
	i, ok := p.pending[m]
	delete(p.pending, m)
	complete := p.complete
	p.mu.Unlock()
	if ok {
		complete(i, err)
	}
}

// target publishes messages of payload bytes asynchronously.
func (p *asyncPublisher) target(name string, payload int) target {
	data := make([]byte, payload)
	return target{name: name, open: func(b *testing.B, _ int, complete func(int, error)) (sender, func()) {
		p.mu.Lock()
		p.complete = complete
		p.mu.Unlock()
		return func(i, n int) error {
			if n != 1 {
				return fmt.Errorf("a JetStream publish holds one record, not %d", n)
			}
			m := &nats.Msg{Subject: benchSubject, Data: data}
			p.mu.Lock()
			p.pending[m] = i
			p.mu.Unlock()
			if _, err := p.js.PublishMsgAsync(m); err != nil {
				p.mu.Lock()
				delete(p.pending, m)
				p.mu.Unlock()
				return err
			}
			return nil
		}, func() {}
	}}
}
