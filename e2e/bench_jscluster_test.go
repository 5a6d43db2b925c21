package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evlog/evlog/service/servicetest"
)

// jetStreamCluster starts three embedded servers with JetStream on file
// storage, routed to each other on loopback as one cluster, each syncing
// every write when syncAlways is set (sync_interval: always). All three
// run in the benchmark's process.
func jetStreamCluster(b *testing.B, name string, syncAlways bool) []*server.Server {
	b.Helper()
	ports := []int{freePort(b), freePort(b), freePort(b)}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	var servers []*server.Server
	for i, p := range ports {
		servers = append(servers, servicetest.NATS(b, func(o *server.Options) {
			o.ServerName = fmt.Sprintf("%s-%d", name, i)
			o.Cluster = server.ClusterOpts{Name: name, Host: "127.0.0.1", Port: p}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
			o.JetStream = true
			o.StoreDir = b.TempDir()
			o.SyncAlways = syncAlways
		}))
	}
	return servers
}

// newReplicatedPublisher creates a file-storage stream with three
// replicas on benchSubject of nc's JetStream cluster and returns an
// async publisher to it. It retries while the cluster elects its
// meta leader, for a minute at most.
func newReplicatedPublisher(b *testing.B, nc *nats.Conn) *asyncPublisher {
	b.Helper()
	p := &asyncPublisher{pending: map[*nats.Msg]int{}}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(maxAsyncPending),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) { p.finish(m, nil) }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) { p.finish(m, err) }),
	)
	if err != nil {
		b.Fatal(err)
	}
	p.js = js
	cfg := jetstream.StreamConfig{
		Name:     benchStream,
		Subjects: []string{benchSubject},
		Storage:  jetstream.FileStorage,
		Replicas: 3,
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err = js.CreateOrUpdateStream(ctxT(b), cfg)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("create stream %s with 3 replicas: %v", benchStream, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The stream answers publishes once its own group has a leader.
	for {
		_, err = js.Publish(ctxT(b), benchSubject, []byte("warm-up"))
		if err == nil {
			return p
		}
		if time.Now().After(deadline) {
			b.Fatalf("publish to %s: %v", benchStream, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
