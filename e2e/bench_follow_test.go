package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/client"
)

// follower tracks a run's records as a follower sees them: each record
// carries the time it was sent in its first 8 bytes and is the i-th of the
// run.
type follower struct {
	start time.Time
	buf   []byte // the payload being stamped, for the sending goroutine
	lat   []time.Duration
	seen  atomic.Int64
	bad   atomic.Int64
	done  chan struct{}
}

func newFollower(n, payload int) *follower {
	return &follower{start: time.Now(), buf: make([]byte, payload), lat: make([]time.Duration, n), done: make(chan struct{})}
}

// stamp returns the next payload to send, holding the time. The payload is
// reused: the client encodes it before stamp is called again.
func (f *follower) stamp() []byte {
	binary.BigEndian.PutUint64(f.buf, uint64(time.Since(f.start)))
	return f.buf
}

// observe notes that the follower saw the i-th record, value.
func (f *follower) observe(i int, value []byte) {
	if i < 0 || i >= len(f.lat) || len(value) != len(f.buf) {
		f.bad.Add(1)
		return
	}
	f.lat[i] = time.Since(f.start) - time.Duration(binary.BigEndian.Uint64(value))
	if f.seen.Add(1) == int64(len(f.lat)) {
		close(f.done)
	}
}

// finish waits until every record was seen and reports the follow
// latency.
func (f *follower) finish(b *testing.B) {
	b.Helper()
	waitProgress(b, f.done, func() int64 { return int64(len(f.lat)) - f.seen.Load() }, "records not seen by the follower")
	b.StopTimer()
	if n := f.bad.Load(); n > 0 {
		b.Fatalf("follower saw %d unexpected records", n)
	}
	reportRate(b)
	reportLatency(b, f.lat, "")
}

// BenchmarkFollow appends one record at a time, each waiting for its
// acknowledgement (a light load), while a follower on another connection
// sees them: evlog's client.Follow, which long-polls reads, and a
// JetStream ordered consumer. It reports as p50-µs and p99-µs the time
// from sending an append to the follower's handler seeing the record.
func BenchmarkFollow(b *testing.B) {
	ns := jetStreamServer(b, false)
	nsAlways := jetStreamServer(b, true)
	for _, mode := range syncModes {
		serveLog(b, ns, false, b.TempDir(), evlogPrefix(mode, false), mode)
	}
	appender, reader := connect(b, ns.ClientURL()), connect(b, ns.ClientURL())
	jsDefault := createStream(b, appender, benchStream, benchSubject)
	jsDefaultReader := createStream(b, reader, benchStream, benchSubject)
	alwaysAppender := connect(b, nsAlways.ClientURL())
	jsAlways := createStream(b, alwaysAppender, benchStream, benchSubject)
	jsAlwaysReader := createStream(b, connect(b, nsAlways.ClientURL()), benchStream, benchSubject)

	for _, size := range payloads {
		for _, mode := range syncModes {
			prefix := evlogPrefix(mode, false)
			b.Run(fmt.Sprintf("size=%d/target=%s", size, prefix), func(b *testing.B) {
				followEvlog(b, size,
					client.New(appender, client.WithPrefix(prefix)),
					client.New(reader, client.WithPrefix(prefix)))
			})
		}
		b.Run(fmt.Sprintf("size=%d/target=jetstream-always", size), func(b *testing.B) {
			followJetStream(b, size, jsAlways, jsAlwaysReader)
		})
		b.Run(fmt.Sprintf("size=%d/target=jetstream-default", size), func(b *testing.B) {
			followJetStream(b, size, jsDefault, jsDefaultReader)
		})
	}
}

func followEvlog(b *testing.B, payload int, appender, reader *client.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inf, err := appender.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	from := inf.NextOffset
	f := newFollower(b.N, payload)
	stopped := make(chan error, 1)
	go func() {
		stopped <- reader.Follow(ctx, from, func(r messages.Record) error {
			f.observe(int(r.Offset-from), r.Value)
			return nil
		})
	}()
	b.SetBytes(int64(payload))
	b.ResetTimer()
	for range b.N {
		if _, err := appender.Append(ctx, messages.Record{Value: f.stamp()}); err != nil {
			b.Fatal(err)
		}
	}
	f.finish(b)
	cancel()
	if err := <-stopped; err != context.Canceled {
		b.Fatalf("follow: %v", err)
	}
}

func followJetStream(b *testing.B, payload int, appender, reader jetstream.JetStream) {
	ctx := context.Background()
	stream, err := appender.Stream(ctx, benchStream)
	if err != nil {
		b.Fatal(err)
	}
	from := stream.CachedInfo().State.LastSeq + 1
	cons, err := reader.OrderedConsumer(ctx, benchStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	})
	if err != nil {
		b.Fatal(err)
	}
	f := newFollower(b.N, payload)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			f.bad.Add(1)
			return
		}
		f.observe(int(meta.Sequence.Stream-from), m.Data())
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()
	b.SetBytes(int64(payload))
	b.ResetTimer()
	for range b.N {
		if _, err := appender.Publish(ctx, benchSubject, f.stamp()); err != nil {
			b.Fatal(err)
		}
	}
	f.finish(b)
}
