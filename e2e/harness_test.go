package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/local"
	"github.com/evlog/evlog/service/servicetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// connect opens a client connection over TCP, closed when the test ends.
func connect(tb testing.TB, url string) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(url, nats.Name(tb.Name()))
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// node is one service instance: its segment log, the local log serving
// it, its connection and the service.
type node struct {
	dir   string
	log   *segment.Log
	local *local.Log
	nc    *nats.Conn
	svc   *service.Service
	once  sync.Once
}

// startNode opens the log in dir and serves it, as a process owning both
// would, and stops it when the test ends if the test has not.
func startNode(tb testing.TB, url, dir string, lc segment.Config, cfg service.Config) *node {
	tb.Helper()
	n, err := tryNode(url, dir, lc, cfg)
	if err != nil {
		tb.Fatalf("start node: %v", err)
	}
	tb.Cleanup(func() { n.stop(tb) })
	return n
}

func tryNode(url, dir string, lc segment.Config, cfg service.Config) (*node, error) {
	l, err := segment.NewLog(dir, lc)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, nats.Name("evlog service"))
	if err != nil {
		l.Close()
		return nil, err
	}
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = 200 * time.Millisecond
	}
	n, err := serveNode(dir, l, nc, cfg)
	if err != nil {
		nc.Close()
		l.Close()
		return nil, err
	}
	return n, nil
}

// serveNode serves l on nc, as a process owning both would. On error it
// leaves l and nc open.
func serveNode(dir string, l *segment.Log, nc *nats.Conn, cfg service.Config) (*node, error) {
	lg, err := local.New(l, local.Config{})
	if err != nil {
		return nil, err
	}
	svc, err := service.New(nc, lg, cfg)
	if err != nil {
		return nil, errors.Join(err, lg.Close())
	}
	return &node{dir: dir, log: l, local: lg, nc: nc, svc: svc}, nil
}

// stop stops the service, closes the local log, flushes the replies, then
// closes the connection and the segment log, in the order a process owning
// them must.
func (n *node) stop(tb testing.TB) {
	tb.Helper()
	n.once.Do(func() {
		if err := n.svc.Stop(); err != nil {
			tb.Errorf("stop service: %v", err)
		}
		if err := n.local.Close(); err != nil {
			tb.Errorf("close local log: %v", err)
		}
		if err := n.nc.Flush(); err != nil {
			tb.Errorf("flush: %v", err)
		}
		n.nc.Close()
		if err := n.log.Close(); err != nil {
			tb.Errorf("close log: %v", err)
		}
	})
}

// env is one server, one node and one client, the usual test setup.
type env struct {
	ns   *server.Server
	url  string
	node *node
	nc   *nats.Conn
	c    *client.Client
}

func newEnv(tb testing.TB, cfg service.Config) *env {
	tb.Helper()
	ns := servicetest.NATS(tb, nil)
	e := &env{ns: ns, url: ns.ClientURL()}
	e.node = startNode(tb, e.url, tb.TempDir(), smallSegments(), cfg)
	e.nc = connect(tb, e.url)
	e.c = client.New(e.nc, client.WithPrefix(cfgPrefix(cfg)))
	return e
}

// smallSegments makes the log roll every few hundred records, so that
// tests cross segment boundaries and truncation has whole segments to
// delete.
func smallSegments() segment.Config {
	var c segment.Config
	c.Segment.MaxStoreBytes = 16 << 10
	return c
}

func cfgPrefix(cfg service.Config) string {
	if cfg.Prefix == "" {
		return messages.DefaultPrefix
	}
	return cfg.Prefix
}

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func val(i int) []byte { return fmt.Appendf(nil, "value-%06d", i) }

func rec(v []byte) messages.Record { return messages.Record{Value: v} }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
