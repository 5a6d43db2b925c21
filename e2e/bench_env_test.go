package e2e

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/servicetest"
)

// The sync modes compared, each with its JetStream counterpart: evlog's
// always with JetStream's SyncAlways server, evlog's interval (1 s) with
// JetStream's default (every 2 minutes), never as the no-sync reference.
var syncModes = []segment.SyncMode{segment.SyncAlways, segment.SyncInterval, segment.SyncNever}

// benchStream is the JetStream stream the append and follow benchmarks
// publish to, on benchSubject.
const (
	benchStream  = "BENCH"
	benchSubject = "bench.append"
)

// jetStreamServer starts an embedded server with JetStream on file
// storage; syncAlways makes it sync every write (sync_interval: always).
func jetStreamServer(b *testing.B, syncAlways bool) *server.Server {
	b.Helper()
	return servicetest.NATS(b, func(o *server.Options) {
		o.JetStream = true
		o.StoreDir = b.TempDir()
		o.SyncAlways = syncAlways
	})
}

// createStream makes a file-storage stream on subject and returns a
// JetStream context of nc, with opts.
func createStream(b *testing.B, nc *nats.Conn, name, subject string, opts ...jetstream.JetStreamOpt) jetstream.JetStream {
	b.Helper()
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		b.Fatal(err)
	}
	_, err = js.CreateOrUpdateStream(ctxT(b), jetstream.StreamConfig{
		Name:     name,
		Subjects: []string{subject},
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		b.Fatalf("create stream %s: %v", name, err)
	}
	return js
}

// serviceConn connects a service or a responder to ns: in-process, as
// `evlog serve` connects to its embedded server, or over loopback TCP, as
// a service joining a NATS deployment does. The connection closes when the
// benchmark ends.
func serviceConn(b *testing.B, ns *server.Server, tcp bool, name string) *nats.Conn {
	b.Helper()
	opts := []nats.Option{nats.Name(name)}
	if !tcp {
		opts = append(opts, nats.InProcessServer(ns))
	}
	nc, err := nats.Connect(ns.ClientURL(), opts...)
	if err != nil {
		b.Fatalf("connect %s: %v", name, err)
	}
	b.Cleanup(nc.Close)
	return nc
}

// serveLog serves the log in dir under prefix, with sync mode mode, and
// stops it when the benchmark ends.
func serveLog(b *testing.B, ns *server.Server, tcp bool, dir, prefix string, mode segment.SyncMode) *node {
	b.Helper()
	var lc segment.Config
	lc.Sync.Mode = mode
	l, err := segment.NewLog(dir, lc)
	if err != nil {
		b.Fatal(err)
	}
	opts := []nats.Option{nats.Name("evlog " + prefix)}
	if !tcp {
		opts = append(opts, nats.InProcessServer(ns))
	}
	nc, err := nats.Connect(ns.ClientURL(), opts...)
	if err != nil {
		l.Close()
		b.Fatal(err)
	}
	n, err := serveNode(dir, l, nc, service.Config{Prefix: prefix, ProbeTimeout: 200 * time.Millisecond})
	if err != nil {
		nc.Close()
		l.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() { n.stop(b) })
	return n
}

// evlogPrefix names the prefix of the service in sync mode mode, over
// TCP or not.
func evlogPrefix(mode segment.SyncMode, tcp bool) string {
	if tcp {
		return "evlog-" + mode.String() + "-tcp"
	}
	return "evlog-" + mode.String()
}

// echoResponder answers prefix.append with a canned append reply and, if
// readReply is not nil, prefix.read with readReply, at once, on its own
// connection to ns.
func echoResponder(b *testing.B, ns *server.Server, tcp bool, prefix string, readReply []byte) {
	b.Helper()
	nc := serviceConn(b, ns, tcp, prefix)
	appendReply, err := messages.Marshal(&messages.AppendReply{FirstOffset: 1 << 20, LastOffset: 1<<20 + 99})
	if err != nil {
		b.Fatal(err)
	}
	subjects := messages.NewSubjects(prefix)
	replies := map[string][]byte{subjects.Append: appendReply}
	if readReply != nil {
		replies[subjects.Read] = readReply
	}
	for subject, body := range replies {
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) { m.Respond(body) }); err != nil {
			b.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
}

// cannedReadReply is a read reply of count records of payload bytes, as
// evlog would send it.
func cannedReadReply(b *testing.B, count, payload int) []byte {
	b.Helper()
	var recs []byte
	enc := messages.NewEncoder()
	now := time.Now().UnixNano()
	for i := range count {
		r, err := enc.Encode(&messages.Record{Value: make([]byte, payload), Offset: uint64(i), Timestamp: now})
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r...)
	}
	return messages.AppendReadReply(nil, count, recs, uint64(count))
}
