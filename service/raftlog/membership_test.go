package raftlog

import (
	"cmp"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/evlog/evlog/service"
)

// join starts a node with no peer list, which waits to be added, and
// makes it part of c.
func (c *cluster) join(id string) *node {
	c.t.Helper()
	nd := &node{cfg: testConfig(id, c.t.TempDir(), "127.0.0.1:0")}
	c.start(nd)
	nd.cfg.BindAddr = nd.log.Addr()
	c.mu.Lock()
	c.nodes = append(c.nodes, nd)
	c.mu.Unlock()
	return nd
}

// member returns id's entry in nd's configuration.
func member(t *testing.T, nd *node, id string) (Member, bool) {
	t.Helper()
	st, err := nd.log.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// TestAddMemberCatchesUpAndIsPromoted: a node started without peers does
// not make a cluster of its own; added, it joins as a non-voter, receives
// every record, and the leader promotes it.
func TestAddMemberCatchesUpAndIsPromoted(t *testing.T) {
	c := newCluster(t, 3, nil)
	for i := range 30 {
		c.mustDo(app("", fmt.Sprintf("before-%d", i)))
	}
	nd := c.join("n3")
	time.Sleep(time.Second) // more than an election timeout
	if st, err := nd.log.Status(); err != nil || st.State != "Follower" || st.LeaderID != "" || len(st.Members) != 0 {
		t.Fatalf("a node without peers: %+v, %v; want a follower of no cluster", st, err)
	}
	ld := c.leader()
	for _, f := range c.running() {
		if f != ld && f != nd {
			if err := f.log.AddMember("n3", nd.log.Addr()); !errors.Is(err, service.ErrUnavailable) {
				t.Fatalf("add on follower %s: %v, want ErrUnavailable", f.cfg.NodeID, err)
			}
			break
		}
	}
	for _, bad := range []struct{ id, addr string }{{"n3", "no-port"}, {"", nd.log.Addr()}, {"n3", ld.log.Addr()}, {ld.cfg.NodeID, nd.log.Addr()}} {
		if err := ld.log.AddMember(bad.id, bad.addr); !errors.Is(err, service.ErrBadRequest) {
			t.Fatalf("add %q at %q: %v, want ErrBadRequest", bad.id, bad.addr, err)
		}
	}
	if err := ld.log.AddMember("n3", nd.log.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, ok := member(t, ld, "n3"); !ok {
		t.Fatal("n3 is not a member once added")
	}
	if err := ld.log.AddMember("n3", nd.log.Addr()); err != nil {
		t.Fatalf("adding it again: %v", err)
	}
	waitFor(t, 20*time.Second, "n3 to be promoted", func() bool {
		m, ok := member(t, c.leader(), "n3")
		return ok && m.Voter
	})
	if nd.log.CommittedOffset() == 0 {
		t.Fatal("promoted before it received a record")
	}
	c.mustDo(app("", "after"))
	c.converged(31)
}

// TestRemoveLeader: the leader removes itself; the others elect a leader
// and go on taking appends.
func TestRemoveLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.mustDo(app("", "a"))
	old := c.leader()
	if err := old.log.RemoveMember("nobody"); !errors.Is(err, service.ErrUnknownMember) {
		t.Fatalf("remove an unknown member: %v", err)
	}
	if err := old.log.RemoveMember(old.cfg.NodeID); err != nil {
		t.Fatal(err)
	}
	c.stop(old)
	nl := c.leader()
	if _, ok := member(t, nl, old.cfg.NodeID); ok {
		t.Fatalf("%s is still a member", old.cfg.NodeID)
	}
	if st, _ := nl.log.Status(); len(st.Members) != 2 {
		t.Fatalf("members after the removal: %+v", st.Members)
	}
	c.mustRetry("after-removal", "b")
	c.converged(2)
}

// TestTransferLeadership: to a named voter, then to whichever.
func TestTransferLeadership(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.mustDo(app("", "a"))
	old := c.leader()
	var to *node
	for _, nd := range c.running() {
		if nd != old {
			to = nd
			if err := nd.log.TransferLeadership(""); !errors.Is(err, service.ErrUnavailable) {
				t.Fatalf("transfer on a follower: %v", err)
			}
		}
	}
	for _, bad := range []struct {
		to   string
		want error
	}{{"nobody", service.ErrUnknownMember}, {old.cfg.NodeID, service.ErrBadRequest}} {
		if err := old.log.TransferLeadership(bad.to); !errors.Is(err, bad.want) {
			t.Fatalf("transfer to %s: %v, want %v", bad.to, err, bad.want)
		}
	}
	transfer(t, c, to.cfg.NodeID, func() bool { return to.log.Leader() })
	c.mustRetry("after-transfer", "b")
	transfer(t, c, "", func() bool { return c.leader() != to })
	c.converged(2)
}

// transfer asks the leader of c to hand its leadership to node id (any
// node if empty) until done says it has. A transfer that Raft gives up
// on, when the target did not win its election within an election
// timeout (as on a loaded machine), fails with ErrUnavailable, which its
// contract says to retry, as the client does for evlog cluster
// transfer-leader.
func transfer(t *testing.T, c *cluster, id string, done func() bool) {
	t.Helper()
	waitFor(t, 30*time.Second, "the leadership to move to "+cmp.Or(id, "another node"), func() bool {
		if done() {
			return true
		}
		ld := c.leader()
		if ld.cfg.NodeID == id {
			return false // it won, and has not finished its barrier yet
		}
		err := ld.log.TransferLeadership(id)
		if err != nil && !errors.Is(err, service.ErrUnavailable) {
			t.Fatalf("transfer to %q: %v", id, err)
		}
		if err != nil {
			t.Logf("transfer to %q: %v; again", id, err)
		}
		return done()
	})
}

// TestRecoverLostQuorum: a 3-node cluster loses two nodes for good; the
// survivor, recovered as a cluster of one, leads, serves every record it
// held, and takes appends. A peer list other than the survivor alone is
// refused.
func TestRecoverLostQuorum(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotThreshold, cfg.TrailingLogs = 5, 2 })
	for i := range 20 {
		c.mustDo(app("", fmt.Sprintf("r%d", i)))
	}
	c.converged(20)
	survivor := c.nodes[2]
	if survivor == c.leader() {
		survivor = c.nodes[1]
	}
	want := raw(t, survivor.log)
	for _, nd := range c.nodes {
		c.stop(nd)
	}
	peers := []Peer{{ID: survivor.cfg.NodeID, Address: survivor.cfg.BindAddr}}
	for _, bad := range []struct {
		cfg   Config
		peers []Peer
	}{
		{survivor.cfg, nil},
		{survivor.cfg, []Peer{{ID: "other", Address: "127.0.0.1:1"}}},
		// Only one survivor is recovered; the others are wiped and re-added.
		{survivor.cfg, append([]Peer{{ID: "other", Address: "127.0.0.1:1"}}, peers...)},
		{testConfig(survivor.cfg.NodeID, t.TempDir(), ""), peers},
	} {
		if err := Recover(bad.cfg, bad.peers); !errors.Is(err, ErrConfig) && !errors.Is(err, ErrNoState) {
			t.Fatalf("recover %+v with %v: %v", bad.cfg, bad.peers, err)
		}
	}
	if err := Recover(survivor.cfg, peers); err != nil {
		t.Fatal(err)
	}
	c.restart(survivor)
	ld := c.leader()
	if ld != survivor {
		t.Fatalf("%s leads, want the survivor %s", ld.cfg.NodeID, survivor.cfg.NodeID)
	}
	if got := raw(t, survivor.log); string(got) != string(want) {
		t.Fatalf("the survivor serves %d bytes, held %d", len(got), len(want))
	}
	c.mustDo(app("", "after-recovery"))
	if got := survivor.log.CommittedOffset(); got != 21 {
		t.Fatalf("next offset %d after the recovery's first append, want 21", got)
	}
}

// TestUnreachableMemberStaysNonvoter: a member that never catches up is
// never promoted, and the cluster commits without it.
func TestUnreachableMemberStaysNonvoter(t *testing.T) {
	c := newCluster(t, 3, nil)
	ld := c.leader()
	if err := ld.log.AddMember("ghost", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		c.mustDo(app("", fmt.Sprintf("r%d", i)))
	}
	time.Sleep(2 * time.Second) // several looks of the promoter
	if m, ok := member(t, c.leader(), "ghost"); !ok || m.Voter {
		t.Fatalf("ghost: %+v, %v; want a non-voter", m, ok)
	}
	if err := c.leader().log.RemoveMember("ghost"); err != nil {
		t.Fatal(err)
	}
	c.converged(10)
}

// TestRecoverAfterTruncatePastSnapshot: the survivor's newest snapshot
// holds offsets that retention has since truncated away, so the snapshot
// cannot be streamed; Recover, which restores nothing from it, must still
// recover the node, and the node must serve what it held.
func TestRecoverAfterTruncatePastSnapshot(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.noSnapshotOnTruncate = true })
	for i := range 10 {
		c.mustDo(app("", fmt.Sprintf("r%d", i)))
	}
	c.converged(10)
	survivor := c.nodes[2]
	if survivor == c.leader() {
		survivor = c.nodes[1]
	}
	if err := survivor.log.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		c.mustDo(app("", fmt.Sprintf("s%d", i)))
	}
	if _, err := c.leader().log.TruncateFront(15); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the truncate on every node", func() bool {
		for _, nd := range c.running() {
			if nd.log.Stats().LowestOffset != 15 {
				return false
			}
		}
		return true
	})
	c.converged(20)
	want := raw(t, survivor.log)
	for _, nd := range c.nodes {
		c.stop(nd)
	}
	peers := []Peer{{ID: survivor.cfg.NodeID, Address: survivor.cfg.BindAddr}}
	if err := Recover(survivor.cfg, peers); err != nil {
		t.Fatalf("recover: %v", err)
	}
	c.restart(survivor)
	if ld := c.leader(); ld != survivor {
		t.Fatalf("%s leads, want the survivor %s", ld.cfg.NodeID, survivor.cfg.NodeID)
	}
	if got := raw(t, survivor.log); string(got) != string(want) {
		t.Fatalf("the survivor serves %d bytes, held %d", len(got), len(want))
	}
	c.mustDo(app("", "after-recovery"))
}
