package raftlog

import (
	"fmt"
	"testing"
	"time"

	"github.com/evlog/evlog/segment"
)

func TestStatus(t *testing.T) {
	c := newCluster(t, 3, nil)
	ld := c.leader()
	for i := range 3 {
		if err := do(ld.log, app("", fmt.Sprintf("r%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	c.converged(3)
	for _, nd := range c.running() {
		st, err := nd.log.Status()
		if err != nil {
			t.Fatal(err)
		}
		wantState := "Follower"
		if nd == ld {
			wantState = "Leader"
		}
		if st.NodeID != nd.cfg.NodeID || st.State != wantState || st.Leader != (nd == ld) || st.LeaderID != ld.cfg.NodeID {
			t.Fatalf("%s: %+v, want state %s and leader %s", nd.cfg.NodeID, st, wantState, ld.cfg.NodeID)
		}
		if st.AppliedOffset != 3 || st.Term == 0 || st.AppliedIndex == 0 || st.LastIndex < st.AppliedIndex {
			t.Fatalf("%s: %+v", nd.cfg.NodeID, st)
		}
		if len(st.Members) != 3 || !st.Members[0].Voter || st.Members[1].Address != c.nodes[1].cfg.BindAddr {
			t.Fatalf("%s: members %+v", nd.cfg.NodeID, st.Members)
		}
	}
}

func TestRetentionThroughTruncate(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.Segment.Segment.MaxStoreBytes = 256 })
	ld := c.leader()
	for i := range 20 {
		if err := do(ld.log, app("", fmt.Sprintf("record-%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	c.converged(20)
	p := segment.RetentionPolicy{MaxBytes: 1}
	if _, reason, err := ld.log.RetentionTarget(segment.RetentionPolicy{}, time.Now()); err != nil || reason != "" {
		t.Fatalf("no policy: %q %v", reason, err)
	}
	lowest, reason, err := ld.log.RetentionTarget(p, time.Now())
	if err != nil || reason != "bytes 1" || lowest == 0 || lowest >= 20 {
		t.Fatalf("RetentionTarget: %d %q %v", lowest, reason, err)
	}
	if got, err := ld.log.TruncateFront(lowest); err != nil || got != lowest {
		t.Fatalf("TruncateFront(%d): %d %v", lowest, got, err)
	}
	for _, nd := range c.running() {
		waitFor(t, 5*time.Second, nd.cfg.NodeID+" truncated", func() bool { return nd.log.Stats().LowestOffset == lowest })
	}
}
