package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
)

func TestClusterOptionsValidate(t *testing.T) {
	base := Options{NodeID: "n1", RaftAddr: "127.0.0.1:7001", Peers: "n1=127.0.0.1:7001,n2=127.0.0.1:7002"}
	with := func(f func(*Options)) Options { o := base; f(&o); return o }
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"raft addr without node id", Options{RaftAddr: "127.0.0.1:7001"}, "--raft-addr needs --node-id"},
		{"peers without node id", Options{Peers: "a=127.0.0.1:1"}, "--peers needs --node-id"},
		{"node id without raft addr", with(func(o *Options) { o.RaftAddr = "" }), "--node-id needs --raft-addr"},
		{"node id with a dot", with(func(o *Options) { o.NodeID = "n.1" }), "--node-id"},
		{"raft addr without port", with(func(o *Options) { o.RaftAddr = "localhost" }), "--raft-addr"},
		{"advertise without port", with(func(o *Options) { o.RaftAdvertise = "host" }), "--raft-advertise"},
		{"peer without address", with(func(o *Options) { o.Peers = "n1" }), "--peers"},
		{"peer listed twice", with(func(o *Options) { o.Peers = "n1=127.0.0.1:1,n1=127.0.0.1:2" }), "--peers: id \"n1\" is listed twice"},
		{"peers without this node", with(func(o *Options) { o.Peers = "n2=127.0.0.1:7002" }), "--peers does not list this node"},
		{"routes without cluster listen", Options{NATSRoutes: "nats-route://127.0.0.1:6222"}, "--nats-routes needs --nats-cluster-listen"},
		{"cluster listen with url", Options{NATSURL: "nats://x", NATSClusterListen: "127.0.0.1:6222"}, "conflict with --nats-url"},
		{"bad route", Options{NATSClusterListen: "127.0.0.1:6222", NATSRoutes: "::"}, "--nats-routes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrConfig naming %s", err, tc.want)
			}
		})
	}
	for name, o := range map[string]Options{
		"cluster":    base,
		"no peers":   with(func(o *Options) { o.Peers = "" }),
		"nats route": {NATSClusterListen: "127.0.0.1:-1", NATSRoutes: "nats-route://127.0.0.1:6222, nats-route://127.0.0.1:6223"},
	} {
		if err := o.Validate(); err != nil {
			t.Errorf("valid options %s: %v", name, err)
		}
	}
}

// testNode is one Run of a test cluster.
type testNode struct {
	id      string
	metrics string
	cancel  context.CancelFunc
	done    chan error
}

// startTestCluster runs three cluster nodes on the NATS at url.
func startTestCluster(t *testing.T, url string) []*testNode {
	t.Helper()
	var ports []int
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	peers := fmt.Sprintf("n0=127.0.0.1:%d,n1=127.0.0.1:%d,n2=127.0.0.1:%d", ports[0], ports[1], ports[2])
	var nodes []*testNode
	for i := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		nd := &testNode{id: fmt.Sprintf("n%d", i), cancel: cancel, done: make(chan error, 1)}
		metrics := make(chan string, 1)
		o := Options{
			Dir: t.TempDir(), NATSURL: url, NodeID: nd.id, RaftAddr: fmt.Sprintf("127.0.0.1:%d", ports[i]), Peers: peers,
			MetricsAddr: "127.0.0.1:0", MetricsReady: func(a string) { metrics <- a },
		}
		go func() { nd.done <- Run(ctx, o) }()
		select {
		case nd.metrics = <-metrics:
		case err := <-nd.done:
			t.Fatalf("node %s: %v", nd.id, err)
		}
		nodes = append(nodes, nd)
		t.Cleanup(func() { nd.stop(t) })
	}
	return nodes
}

// stop ends the node's Run, once.
func (nd *testNode) stop(t *testing.T) {
	if nd.done == nil {
		return
	}
	nd.cancel()
	if err := <-nd.done; err != nil {
		t.Errorf("node %s: %v", nd.id, err)
	}
	nd.done = nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func clusterStatusOf(t *testing.T, nc *nats.Conn) messages.ClusterStatus {
	t.Helper()
	msg, err := nc.Request(messages.NewSubjects(messages.DefaultPrefix).ClusterStatus, nil, 5*time.Second)
	if err != nil {
		t.Fatalf("cluster status: %v", err)
	}
	var st messages.ClusterStatus
	if err := messages.Unmarshal(msg.Data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startClusterClient is how a test of a running cluster begins: it skips
// in -short mode, and otherwise runs three nodes on a nats-server of
// their own and returns them, a connection, a client on it, and a retry
// that carries appends through elections.
func startClusterClient(t *testing.T) ([]*testNode, *nats.Conn, *client.Client, client.AppendOption) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	ns := servicetest.NATS(t, nil)
	nodes := startTestCluster(t, ns.ClientURL())
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c := client.New(nc, client.WithTimeout(5*time.Second))
	retry := client.WithRetry(client.RetryPolicy{Attempts: 100, Backoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	return nodes, nc, c, retry
}

func TestClusterRun(t *testing.T) {
	nodes, nc, c, retry := startClusterClient(t)
	appendN := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			rep, err := c.AppendWith(ctx, []messages.Record{{Value: fmt.Appendf(nil, "r%d", i)}}, client.WithID(fmt.Sprint("id-", i)), retry)
			cancel()
			if err != nil || rep.FirstOffset != uint64(i) {
				t.Fatalf("append %d: %+v %v", i, rep, err)
			}
		}
	}
	appendN(0, 5)

	st := clusterStatusOf(t, nc)
	if st.Leader == "" || len(st.Members) != 3 {
		t.Fatalf("status %+v", st)
	}
	leaders := 0
	for _, m := range st.Members {
		if m.State == messages.StateLeader {
			leaders++
			if m.ID != st.Leader || m.AppliedOffset != 5 {
				t.Fatalf("leader %+v in %+v", m, st)
			}
		}
		if !m.Voter || m.Address == "" || m.Term == 0 {
			t.Fatalf("member %+v", m)
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders in %+v", leaders, st)
	}
	var leader *testNode
	for _, nd := range nodes {
		waitFor(t, 10*time.Second, nd.id+" ready", func() bool {
			code, _ := get(t, "http://"+nd.metrics+"/readyz")
			return code == http.StatusOK
		})
		_, body := get(t, "http://"+nd.metrics+"/metrics")
		isLeader := strings.Contains(body, `evlog_raft_role{role="leader"} 1`)
		if !strings.Contains(body, "evlog_raft_applied_offset") || isLeader != (nd.id == st.Leader) {
			t.Fatalf("%s metrics: leader %v, status says %s", nd.id, isLeader, st.Leader)
		}
		if isLeader {
			leader = nd
		}
	}

	// The leader stops; another takes over, and the offsets go on.
	leader.stop(t)
	appendN(5, 5)
	waitFor(t, 10*time.Second, "a new leader in the status", func() bool {
		st = clusterStatusOf(t, nc)
		return st.Leader != "" && st.Leader != leader.id
	})
	for _, m := range st.Members {
		if m.ID == leader.id && m.State != messages.StateUnreachable {
			t.Fatalf("stopped node %+v", m)
		}
	}
}
