package main

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/node"
	"github.com/evlog/evlog/service/servicetest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// clusterStatus runs evlog cluster status --json.
func clusterStatus(t *testing.T, url string) messages.ClusterStatus {
	t.Helper()
	out, err := cli(t, "", "cluster", "status", "--json", "--nats-url", url)
	var st messages.ClusterStatus
	if err == nil {
		err = json.Unmarshal([]byte(out), &st)
	}
	if err != nil {
		t.Logf("cluster status: %v", err)
	}
	return st
}

// TestClusterChangeCommands: a node of one grows to two with cluster add
// (the new node is a non-voter, then a voter), hands the leadership over
// with transfer-leader, and removes the first node.
func TestClusterChangeCommands(t *testing.T) {
	single := startService(t)
	if _, err := cli(t, "", "cluster", "add", "--nats-url", single, "--id", "b", "--raft-addr", "127.0.0.1:7002"); err == nil ||
		!strings.Contains(err.Error(), "single node") || !strings.Contains(err.Error(), "501") {
		t.Fatalf("add on a single node: %v", err)
	}
	url := servicetest.NATS(t, nil).ClientURL()
	addrA, addrB := freeAddr(t), freeAddr(t)
	startServiceWith(t, node.Options{NATSURL: url, NodeID: "a", RaftAddr: addrA, Peers: "a=" + addrA})
	startServiceWith(t, node.Options{NATSURL: url, NodeID: "b", RaftAddr: addrB})
	for _, tc := range []struct{ args, want string }{
		{"add --id b --raft-addr nowhere", "HOST:PORT"},
		{"add --raft-addr " + addrB, "--id is required"},
		{"remove --id zz", "unknown member"},
		{"transfer-leader --to zz", "unknown member"},
	} {
		args := append([]string{"cluster"}, strings.Fields(tc.args)...)
		if _, err := cli(t, "", append(args, "--nats-url", url)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("cluster %s: %v, want %q", tc.args, err, tc.want)
		}
	}
	out, err := cli(t, "", "cluster", "add", "--nats-url", url, "--id", "b", "--raft-addr", addrB)
	if err != nil || !strings.Contains(out, "b   "+addrB) {
		t.Fatalf("cluster add: %v\n%s", err, out)
	}
	waitCluster(t, url, "b to be promoted", func(st messages.ClusterStatus) bool {
		return len(st.Members) == 2 && st.Members[1].ID == "b" && st.Members[1].Voter && st.Members[1].State == messages.StateFollower
	})
	if out, err := cli(t, "", "cluster", "transfer-leader", "--nats-url", url, "--to", "b"); err != nil {
		t.Fatalf("transfer-leader: %v\n%s", err, out)
	}
	waitCluster(t, url, "b to lead", func(st messages.ClusterStatus) bool { return st.Leader == "b" })
	if out, err := cli(t, "", "cluster", "remove", "--nats-url", url, "--id", "a"); err != nil {
		t.Fatalf("remove: %v\n%s", err, out)
	}
	waitCluster(t, url, "a to be gone", func(st messages.ClusterStatus) bool {
		return st.Leader == "b" && len(st.Members) == 1
	})
	if out, err := cli(t, "x\n", "append", "--nats-url", url); err != nil {
		t.Fatalf("append after the changes: %v\n%s", err, out)
	}
}

func waitCluster(t *testing.T, url, what string, cond func(messages.ClusterStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := clusterStatus(t, url)
		if cond(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, fmt.Sprint(st))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
