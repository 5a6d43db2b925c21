package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
)

// The benchmarks put evlog between a ceiling and a peer, on the same
// embedded server and over loopback TCP:
//
//   - echo: a core-NATS responder that answers at once, what request-reply
//     costs with no log at all;
//   - evlog: the service, under SyncAlways and SyncInterval;
//   - jetstream: a file-storage stream of the same server, syncing every
//     write (server option SyncAlways) or on its default interval.
//
// One op is one record of benchPayload bytes in every case, so ns/op,
// MB/s and records/s compare across targets and modes.

const (
	benchPayload  = 100
	readBatch     = 1000
	readPreloaded = 20000
)

// benchEnv is shared by the sub-benchmarks of one benchmark: the servers
// start once.
type benchEnv struct {
	nc       *nats.Conn // client connection to the main server
	evlog    map[string]*client.Client
	js       jetstream.JetStream // main server: default sync
	jsAlways jetstream.JetStream // second server: SyncAlways
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	main := runServer(b, func(o *server.Options) {
		o.JetStream = true
		o.StoreDir = b.TempDir()
	})
	always := runServer(b, func(o *server.Options) {
		o.JetStream = true
		o.StoreDir = b.TempDir()
		o.SyncAlways = true
	})
	e := &benchEnv{nc: connect(b, main.ClientURL()), evlog: map[string]*client.Client{}}

	// The echo responder answers like an append would, with the body of
	// an AppendReply, or with a canned read reply.
	echo := connect(b, main.ClientURL())
	appendReply, err := messages.Marshal(&messages.AppendReply{FirstOffset: 1 << 20, LastOffset: 1<<20 + 99})
	if err != nil {
		b.Fatal(err)
	}
	readReply := cannedReadReply(b)
	for subject, body := range map[string][]byte{"echo.append": appendReply, "echo.read": readReply} {
		if _, err := echo.Subscribe(subject, func(m *nats.Msg) { m.Respond(body) }); err != nil {
			b.Fatal(err)
		}
	}
	if err := echo.Flush(); err != nil {
		b.Fatal(err)
	}

	for _, mode := range []segment.SyncMode{segment.SyncAlways, segment.SyncInterval} {
		var lc segment.Config
		lc.Sync.Mode = mode
		startNode(b, main.ClientURL(), b.TempDir(), lc, service.Config{Prefix: mode.String(), SyncMode: mode})
		e.evlog[mode.String()] = client.New(e.nc, client.WithPrefix(mode.String()))
	}

	e.js = newJetStream(b, e.nc)
	e.jsAlways = newJetStream(b, connect(b, always.ClientURL()))
	return e
}

func newJetStream(b *testing.B, nc *nats.Conn) jetstream.JetStream {
	b.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := ctxT(b)
	for name, subject := range map[string]string{"APPEND": "append.>", "READ": "read.>"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage}); err != nil {
			b.Fatal(err)
		}
	}
	return js
}

// cannedReadReply is a read reply of readBatch records of benchPayload
// bytes, as evlog would send it.
func cannedReadReply(b *testing.B) []byte {
	b.Helper()
	var recs []byte
	enc := messages.NewEncoder()
	for i := range readBatch {
		r, err := enc.Encode(&messages.Record{Value: make([]byte, benchPayload), Offset: uint64(i), Timestamp: time.Now().UnixNano()})
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r...)
	}
	return messages.AppendReadReply(nil, readBatch, recs, readBatch)
}

// sender sends one request holding n records and waits for its answer.
type sender func(ctx context.Context, n int) error

// drive sends b.N records from inflight goroutines, batch records a
// request.
func drive(b *testing.B, inflight, batch int, send sender) {
	b.SetBytes(benchPayload)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range inflight {
		wg.Go(func() {
			for {
				start := int(next.Add(int64(batch))) - batch
				if start >= b.N {
					return
				}
				if err := send(ctx, min(batch, b.N-start)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkAppend(b *testing.B) {
	e := newBenchEnv(b)
	payload := make([]byte, benchPayload)
	records := make([]messages.Record, 100)
	for i := range records {
		records[i] = messages.Record{Value: payload}
	}
	echoBodies := make(map[int][]byte)
	for _, n := range []int{1, 100} {
		body, err := messages.Marshal(&messages.AppendRequest{Records: records[:n]})
		if err != nil {
			b.Fatal(err)
		}
		echoBodies[n] = body
	}
	var jsSeq atomic.Int64
	jsSend := func(js jetstream.JetStream) sender {
		return func(ctx context.Context, n int) error {
			subject := fmt.Sprintf("append.%d", jsSeq.Add(1)%16)
			if n == 1 {
				_, err := js.Publish(ctx, subject, payload)
				return err
			}
			// JetStream has no multi-message publish: n asynchronous
			// publishes, then every acknowledgement.
			futures := make([]jetstream.PubAckFuture, n)
			for i := range futures {
				f, err := js.PublishAsync(subject, payload)
				if err != nil {
					return err
				}
				futures[i] = f
			}
			for _, f := range futures {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					return err
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}
	}
	targets := []struct {
		name string
		send sender
	}{
		{"echo", func(ctx context.Context, n int) error {
			_, err := e.nc.RequestWithContext(ctx, "echo.append", echoBodies[n])
			return err
		}},
		{"evlog-always", func(ctx context.Context, n int) error {
			_, err := e.evlog["always"].Append(ctx, records[:n]...)
			return err
		}},
		{"jetstream-always", jsSend(e.jsAlways)},
		{"evlog-interval", func(ctx context.Context, n int) error {
			_, err := e.evlog["interval"].Append(ctx, records[:n]...)
			return err
		}},
		{"jetstream-default", jsSend(e.js)},
	}
	shapes := []struct {
		name            string
		inflight, batch int
	}{
		{"inflight=1", 1, 1},
		{"inflight=64", 64, 1},
		{"batch=100", 1, 100},
	}
	for _, shape := range shapes {
		for _, tg := range targets {
			b.Run(shape.name+"/"+tg.name, func(b *testing.B) {
				drive(b, shape.inflight, shape.batch, tg.send)
			})
		}
	}
}

func BenchmarkRead(b *testing.B) {
	e := newBenchEnv(b)
	ctx := ctxT(b)
	c := e.evlog["interval"]
	payload := make([]byte, benchPayload)
	batch := make([]messages.Record, readBatch)
	for i := range batch {
		batch[i] = messages.Record{Value: payload}
	}
	for range readPreloaded / readBatch {
		if _, err := c.Append(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	for i := range readPreloaded {
		e.js.PublishAsync(fmt.Sprintf("read.%d", i%16), payload)
	}
	select {
	case <-e.js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal(ctx.Err())
	}

	b.Run("echo", func(b *testing.B) {
		b.SetBytes(benchPayload)
		for n := 0; n < b.N; n += readBatch {
			if _, err := e.nc.Request("echo.read", nil, 10*time.Second); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("evlog-read", func(b *testing.B) {
		b.SetBytes(benchPayload)
		off := uint64(0)
		for n := 0; n < b.N; {
			rep, err := c.Read(ctx, off, client.ReadOptions{MaxRecords: readBatch})
			if err != nil {
				b.Fatal(err)
			}
			n += len(rep.Records)
			off = rep.NextOffset % readPreloaded
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("evlog-follow", func(b *testing.B) {
		b.SetBytes(benchPayload)
		for n := 0; n < b.N; {
			fctx, cancel := context.WithCancel(ctx)
			err := c.Follow(fctx, 0, func(r messages.Record) error {
				n++
				if n >= b.N || r.Offset == readPreloaded-1 {
					cancel()
				}
				return nil
			})
			cancel()
			if err != context.Canceled {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("jetstream-fetch", func(b *testing.B) {
		b.SetBytes(benchPayload)
		for n := 0; n < b.N; {
			cons, err := e.js.OrderedConsumer(ctx, "READ", jetstream.OrderedConsumerConfig{})
			if err != nil {
				b.Fatal(err)
			}
			for pass := 0; pass < readPreloaded && n < b.N; {
				msgs, err := cons.Fetch(min(readBatch, readPreloaded-pass), jetstream.FetchMaxWait(10*time.Second))
				if err != nil {
					b.Fatal(err)
				}
				for range msgs.Messages() {
					n++
					pass++
				}
				if err := msgs.Error(); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
