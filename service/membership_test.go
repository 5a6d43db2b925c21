package service

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
)

// fakeMembership is a Membership of members a, b and c that records the
// changes asked of it.
type fakeMembership struct {
	mu      sync.Mutex
	changes []string
}

func (f *fakeMembership) note(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, s)
	return nil
}

func (f *fakeMembership) AddMember(id, addr string) error {
	if !strings.Contains(addr, ":") {
		return fmt.Errorf("%w: raft address %q is not host:port", ErrBadRequest, addr)
	}
	return f.note("add " + id + " " + addr)
}

func (f *fakeMembership) RemoveMember(id string) error {
	if id != "a" && id != "b" && id != "c" {
		return fmt.Errorf("%w: %q", ErrUnknownMember, id)
	}
	return f.note("remove " + id)
}

func (f *fakeMembership) TransferLeadership(to string) error { return f.note("transfer " + to) }

func (f *fakeMembership) Members() ([]messages.ClusterMember, error) {
	return []messages.ClusterMember{{ID: "a", Voter: true}, {ID: "b", Voter: true}}, nil
}

// clusterRequest sends a membership request and returns the reply's code
// (0 for none) and the reply.
func clusterRequest(t *testing.T, nc *nats.Conn, op string, req any) (int, *nats.Msg) {
	t.Helper()
	body, err := messages.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nc.Request("evlog.cluster."+op, body, 5*time.Second)
	if err != nil {
		t.Fatalf("cluster %s: %v", op, err)
	}
	code, _ := strconv.Atoi(m.Header.Get("Nats-Service-Error-Code"))
	return code, m
}

func TestMembershipOnTheLeader(t *testing.T) {
	ld, mem := newFakeLeadership(), &fakeMembership{}
	ld.set(true, "a", false)
	cfg := clusterConfig(ld)
	cfg.Membership = mem
	e := startFake(t, cfg, newFakeLog())
	waitUntil(t, "the leader serves the membership endpoints", func() bool {
		_, err := e.nc.Request("evlog.cluster.transfer", nil, time.Second)
		return err == nil
	})
	code, m := clusterRequest(t, e.nc, "add", &messages.ClusterAddRequest{ID: "d", Address: "127.0.0.1:7004"})
	var reply messages.ClusterChangeReply
	if err := messages.Unmarshal(m.Data, &reply); code != 0 || err != nil || reply.Leader != "a" || len(reply.Members) != 2 {
		t.Fatalf("add: code %d, %+v, %v", code, reply, err)
	}
	for _, tc := range []struct {
		op   string
		req  any
		code int
		desc string
	}{
		{"add", &messages.ClusterAddRequest{ID: "d", Address: "nowhere"}, messages.CodeBadRequest, "bad request"},
		{"remove", &messages.ClusterRemoveRequest{ID: "zz"}, messages.CodeOffsetOutOfRange, "unknown member"},
		{"remove", &messages.ClusterRemoveRequest{ID: "b"}, 0, ""},
		{"transfer", &messages.ClusterTransferRequest{To: "b"}, 0, ""},
		{"remove", map[string]any{"id": []int{1}}, messages.CodeBadRequest, "bad request: decode"},
	} {
		code, m := clusterRequest(t, e.nc, tc.op, tc.req)
		if d := m.Header.Get("Nats-Service-Error"); code != tc.code || !strings.HasPrefix(d, tc.desc) {
			t.Errorf("%s %+v: %d %q, want %d %q", tc.op, tc.req, code, d, tc.code, tc.desc)
		}
	}
	mem.mu.Lock()
	got := strings.Join(mem.changes, "; ")
	mem.mu.Unlock()
	// The empty transfer request of the wait above asked for any voter.
	if !strings.HasSuffix(got, "add d 127.0.0.1:7004; remove b; transfer b") {
		t.Fatalf("changes made: %s", got)
	}
	// A request on its way when the node lost the leadership.
	ld.set(false, "b", true)
	code, m = clusterRequest(t, e.nc, "remove", &messages.ClusterRemoveRequest{ID: "c"})
	if code != messages.CodeUnavailable || m.Header.Get(messages.LeaderHeader) != "b" {
		t.Fatalf("remove on a follower: %d, leader %q", code, m.Header.Get(messages.LeaderHeader))
	}
	ld.set(false, "b", false)
	waitUntil(t, "the follower drops the membership endpoints", func() bool {
		_, err := e.nc.Request("evlog.cluster.remove", nil, time.Second)
		return err == nats.ErrNoResponders
	})
}

func TestMembershipOnASingleNode(t *testing.T) {
	e := startFake(t, Config{}, newFakeLog())
	for _, op := range []string{"add", "remove", "transfer"} {
		code, m := clusterRequest(t, e.nc, op, &messages.ClusterRemoveRequest{ID: "a"})
		if d := m.Header.Get("Nats-Service-Error"); code != messages.CodeNotCluster || !strings.Contains(d, "single node") {
			t.Fatalf("%s on a single node: %d %q, want 501", op, code, d)
		}
	}
}
