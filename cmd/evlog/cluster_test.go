package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/servicetest"
)

func TestServeClusterFlags(t *testing.T) {
	t.Setenv("EVLOG_PEERS", "a=127.0.0.1:7001,b=127.0.0.1:7002,c=127.0.0.1:7003")
	o, _, err := resolve(t, "--node-id", "a", "--raft-addr", "0.0.0.0:7001", "--raft-advertise", "127.0.0.1:7001",
		"--raft-tls-cert", "node.pem", "--raft-tls-key", "node.key", "--raft-tls-ca", "ca.pem",
		"--nats-cluster-listen", "127.0.0.1:6222", "--nats-routes", "nats-route://127.0.0.1:6223")
	if err != nil {
		t.Fatal(err)
	}
	if o.NodeID != "a" || o.RaftAddr != "0.0.0.0:7001" || o.RaftAdvertise != "127.0.0.1:7001" ||
		!strings.HasPrefix(o.Peers, "a=127.0.0.1:7001,") || o.NATSClusterListen != "127.0.0.1:6222" || o.NATSRoutes != "nats-route://127.0.0.1:6223" {
		t.Fatalf("cluster options: %+v", o)
	}
	if o.RaftTLSCertFile != "node.pem" || o.RaftTLSKeyFile != "node.key" || o.RaftTLSCAFile != "ca.pem" {
		t.Fatalf("raft TLS options: %+v", o)
	}
	// A wildcard bind without TLS lets anyone who reaches it join: refused
	// unless --allow-anonymous.
	insecure := []string{"--node-id", "a", "--raft-addr", "0.0.0.0:7001"}
	if _, _, err := resolve(t, insecure...); exitCode(err) != 2 || !strings.Contains(err.Error(), "Raft has no TLS") {
		t.Fatalf("serve %v: %v, want a usage error about Raft without TLS", insecure, err)
	}
	if _, _, err := resolve(t, append(insecure, "--allow-anonymous")...); err != nil {
		t.Fatalf("serve %v --allow-anonymous: %v", insecure, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--raft-addr", "127.0.0.1:7001"}, "--raft-addr needs --node-id"},
		{[]string{"--node-id", "x", "--raft-addr", "127.0.0.1:7001"}, "--peers does not list this node"},
		{[]string{"--node-id", "a", "--raft-addr", "0.0.0.0:7001", "--raft-tls-cert", "c.pem"}, "--raft-tls-cert, --raft-tls-key and --raft-tls-ca go together"},
	} {
		if _, _, err := resolve(t, tc.args...); err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %v: %v, want a usage error naming %s", tc.args, err, tc.want)
		}
	}
}

// answerClusterStatus answers the cluster status on the NATS at url with
// st, as a node would.
func answerClusterStatus(t *testing.T, url string, st messages.ClusterStatus) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	body, err := messages.Marshal(&st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe(messages.NewSubjects("evlog").ClusterStatus, func(m *nats.Msg) { _ = m.Respond(body) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestClusterStatusCommand(t *testing.T) {
	url := servicetest.NATS(t, nil).ClientURL()
	if _, err := cli(t, "", "cluster", "status", "--nats-url", url, "--timeout", "500ms"); err == nil || !strings.Contains(err.Error(), "single node") {
		t.Fatalf("status with no cluster: %v", err)
	}
	want := messages.ClusterStatus{Leader: "b", Members: []messages.ClusterMember{
		{ID: "a", Address: "127.0.0.1:7001", State: messages.StateFollower, Voter: true, Term: 3, LastIndex: 40, AppliedIndex: 39, AppliedOffset: 90, Lag: 10},
		{ID: "b", Address: "127.0.0.1:7002", State: messages.StateLeader, Voter: true, Term: 3, LastIndex: 41, AppliedIndex: 41, AppliedOffset: 100},
		{ID: "c", Address: "127.0.0.1:7003", State: messages.StateUnreachable, Voter: true, Error: "nats: timeout"},
	}}
	answerClusterStatus(t, url, want)
	out, err := cli(t, "", "cluster", "status", "--nats-url", url)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"leader  b\n", "a   127.0.0.1:7001  follower", "90              10", "c   127.0.0.1:7003  unreachable"} {
		if !strings.Contains(out, s) {
			t.Errorf("status lacks %q:\n%s", s, out)
		}
	}
	// The client flags may come before "status" too.
	for _, args := range [][]string{{"cluster", "status", "--json", "--nats-url", url}, {"cluster", "--json", "--nats-url", url, "status"}} {
		out, err = cli(t, "", args...)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Leader  string           `json:"leader"`
			Members []map[string]any `json:"members"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if got.Leader != "b" || len(got.Members) != 3 || got.Members[0]["applied_offset"] != 90.0 || got.Members[1]["state"] != "leader" ||
			got.Members[0]["voter"] != true || got.Members[0]["address"] != "127.0.0.1:7001" {
			t.Fatalf("%v: %s", args, out)
		}
	}
}
