package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// The replay benchmark reads a preloaded log of replayRecords records of
// replayPayload bytes from the start, over and over.
const (
	replayPayload = 100
	replayRecords = 1_000_000
	// replayEnv overrides replayRecords, for a quick smoke run.
	replayEnv     = "EVLOG_BENCH_REPLAY"
	replayStream  = "REPLAY"
	replaySubject = "replay.records"
)

// replayLoads are the read loads of evlog (and the echo ceiling): records
// a read and reads in flight. A batch of 1000 is what client.Follow asks.
var replayLoads = []shape{
	{inflight: 1, batch: 1000},
	{inflight: 4, batch: 1000},
	{inflight: 1, batch: 5000},
}

// jsReplayPulls are the JetStream ordered consumer's buffer sizes tried:
// its default (500 messages) and a larger one.
var jsReplayPulls = []int{0, 5000}

// replayCount is how many records to preload: replayRecords, or the value
// of EVLOG_BENCH_REPLAY, rounded up so that every read batch divides it.
func replayCount(b *testing.B) int {
	b.Helper()
	n := replayRecords
	if s := os.Getenv(replayEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("%s=%q: want a positive number of records", replayEnv, s)
		}
		n = v
	}
	unit := 1
	for _, l := range replayLoads {
		unit = lcm(unit, l.batch)
	}
	return (n + unit - 1) / unit * unit
}

func lcm(a, b int) int {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}

// BenchmarkReplay reads a log of 1,000,000 records of 100 bytes (or
// EVLOG_BENCH_REPLAY records) from the start, in batched reads from evlog
// (in-process and over TCP) and the echo ceiling, and with JetStream's
// ordered consumer. One op is one record read; a run longer than the log
// starts over from its first record.
func BenchmarkReplay(b *testing.B) {
	total := replayCount(b)
	ns := jetStreamServer(b, false)
	nc := connect(b, ns.ClientURL())

	for _, tcp := range []bool{false, true} {
		dir := b.TempDir()
		preloadLog(b, dir, total)
		serveLog(b, ns, tcp, dir, evlogPrefix(segment.SyncAlways, tcp), segment.SyncAlways)
	}
	js := createStream(b, nc, replayStream, replaySubject)
	preloadStream(b, nc, total)

	echoes := map[int]bool{}
	for _, load := range replayLoads {
		echo := fmt.Sprintf("echo-%d", load.batch)
		if !echoes[load.batch] {
			echoResponder(b, ns, false, echo, cannedReadReply(b, load.batch, replayPayload))
			echoes[load.batch] = true
		}
		targets := []target{
			readTarget("echo", nc, echo, load.batch, total, false),
			readTarget("evlog", nc, evlogPrefix(segment.SyncAlways, false), load.batch, total, true),
			readTarget("evlog-tcp", nc, evlogPrefix(segment.SyncAlways, true), load.batch, total, true),
		}
		for _, t := range targets {
			b.Run(fmt.Sprintf("%v/target=%s", load, t.name), func(b *testing.B) {
				drive(b, replayPayload, load, t)
			})
		}
	}
	for _, pull := range jsReplayPulls {
		name := "target=jetstream-ordered"
		var opts []jetstream.PullConsumeOpt
		if pull > 0 {
			name = fmt.Sprintf("pull=%d/%s", pull, name)
			opts = append(opts, jetstream.PullMaxMessages(pull))
		}
		b.Run(name, func(b *testing.B) { replayJetStream(b, js, total, opts...) })
	}
}

// preloadLog writes total records of replayPayload bytes into a new log in
// dir directly, much faster than appending them over NATS.
func preloadLog(b *testing.B, dir string, total int) {
	b.Helper()
	var lc segment.Config
	lc.Sync.Mode = segment.SyncNever
	l, err := segment.NewLog(dir, lc)
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, replayPayload)
	batch := make([]*messages.Record, 10000)
	for left := total; left > 0; left -= len(batch) {
		batch = batch[:min(len(batch), left)]
		for i := range batch {
			batch[i] = &messages.Record{Value: payload}
		}
		if _, err := l.AppendUnsynced(batch); err != nil {
			l.Close()
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}

// preloadStream fills the stream with total messages of replayPayload
// bytes, with async publishes (plain publishes without acks are dropped
// by a stream that falls behind), and waits for every ack.
func preloadStream(b *testing.B, nc *nats.Conn, total int) {
	b.Helper()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, replayPayload)
	for range total {
		if _, err := js.PublishAsync(replaySubject, payload); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		b.Fatalf("preload: %d publishes unacknowledged", js.PublishAsyncPending())
	}
	info, err := js.Stream(ctxT(b), replayStream)
	if err != nil {
		b.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != uint64(total) {
		b.Fatalf("stream holds %d of %d preloaded messages", n, total)
	}
}

// replayJetStream reads b.N messages with ordered consumers, one from the
// stream's start for each pass over its total messages. The consumer
// fetches ahead on its own, so there are no requests to time, and no
// latency is reported.
func replayJetStream(b *testing.B, js jetstream.JetStream, total int, opts ...jetstream.PullConsumeOpt) {
	b.SetBytes(replayPayload)
	ctx := context.Background()
	b.ResetTimer()
	for left := b.N; left > 0; {
		pass := min(left, total)
		cons, err := js.OrderedConsumer(ctx, replayStream, jetstream.OrderedConsumerConfig{})
		if err != nil {
			b.Fatal(err)
		}
		var got, bad atomic.Int64
		done := make(chan struct{})
		cc, err := cons.Consume(func(m jetstream.Msg) {
			if len(m.Data()) != replayPayload {
				bad.Add(1)
			}
			if got.Add(1) == int64(pass) {
				close(done)
			}
		}, opts...)
		if err != nil {
			b.Fatal(err)
		}
		waitProgress(b, done, func() int64 { return int64(pass) - got.Load() }, "messages not delivered")
		cc.Stop()
		if n := bad.Load(); n > 0 {
			b.Fatalf("%d messages of the wrong size", n)
		}
		left -= pass
	}
	b.StopTimer()
	reportRate(b)
}
