package raftlog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/evlog/evlog/service"

	"github.com/evlog/evlog/messages"
)

// TestReplicates: appends through the leader commit on all three nodes at
// the same offsets, with the same bytes, and followers refuse appends.
func TestReplicates(t *testing.T) {
	c := newCluster(t, 3, nil)
	ld := c.leader()
	for i := range 20 {
		a := app("", fmt.Sprintf("r%d-a", i), fmt.Sprintf("r%d-b", i))
		if err := do(ld.log, a); err != nil {
			t.Fatal(err)
		}
		if a.First != uint64(2*i) || a.Last != uint64(2*i+1) {
			t.Fatalf("append %d at %d-%d, want %d-%d", i, a.First, a.Last, 2*i, 2*i+1)
		}
	}
	c.converged(40)
	for _, nd := range c.running() {
		if nd == ld {
			continue
		}
		if err := nd.log.Append(app("", "x")); !errors.Is(err, service.ErrUnavailable) {
			t.Fatalf("append on follower %s: %v, want ErrUnavailable", nd.cfg.NodeID, err)
		}
	}
}

// TestGroupsAppends: appends queued while entries are in flight share
// entries, so there are fewer entries than appends.
func TestGroupsAppends(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.MaxInFlight = 2 })
	ld := c.leader()
	const n = 200
	as := make([]*service.Append, n)
	for i := range as {
		as[i] = app("", fmt.Sprint(i))
		if err := ld.log.Append(as[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range as {
		if err := <-a.Token.(chan error); err != nil {
			t.Fatal(err)
		}
		if a.First != uint64(i) {
			t.Fatalf("append %d at %d", i, a.First)
		}
	}
	c.converged(n)
	if e := ld.log.WALStats().Entries; e >= n {
		t.Fatalf("%d appends took %d entries: not grouped", n, e)
	}
}

// TestDuplicatesAndExpectedOffset: the behaviour of service/local, decided
// on every replica alike.
func TestDuplicatesAndExpectedOffset(t *testing.T) {
	c := newCluster(t, 3, nil)
	orig := app("batch-1", "a", "b")
	c.mustDo(orig)
	c.mustDo(app("", "c"))
	dup := app("batch-1", "x")
	c.mustDo(dup)
	if !dup.Duplicate || dup.First != orig.First || dup.Last != orig.Last || orig.Duplicate {
		t.Fatalf("original %+v, duplicate %+v", orig, dup)
	}
	zero, three := uint64(0), uint64(3)
	stale := app("", "d")
	stale.ExpectedOffset = &zero
	err := do(c.leader().log, stale)
	var conflict *service.ConflictError
	if !errors.As(err, &conflict) || conflict.NextOffset != 3 {
		t.Fatalf("stale expected offset: %v", err)
	}
	ok := app("", "d")
	ok.ExpectedOffset = &three
	c.mustDo(ok)
	if ok.First != 3 {
		t.Fatalf("conditional append at %d, want 3", ok.First)
	}
	// The retry of an acknowledged conditional append gets its offsets.
	retry := app("cond", "e")
	four := uint64(4)
	retry.ExpectedOffset = &four
	c.mustDo(retry)
	again := app("cond", "e")
	again.ExpectedOffset = &four
	c.mustDo(again)
	if !again.Duplicate || again.First != 4 {
		t.Fatalf("retry %+v", again)
	}
	c.converged(5)
	for _, nd := range c.running() {
		if got := nd.log.Stats().DedupIDs; got != 2 {
			t.Fatalf("%s remembers %d ids, want 2", nd.cfg.NodeID, got)
		}
	}
}

// TestFailedLeaderStepsDown: a leader whose log fails stops taking
// appends and hands the leadership over; the others go on. The appends it
// refuses meanwhile get 503, which a client retries on the next leader,
// not the 500 of a single node whose log failed.
func TestFailedLeaderStepsDown(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.mustDo(app("", "a"))
	old := c.leader()
	old.log.failure.Fail(errors.New("fdatasync: input/output error"))
	err := old.log.Append(app("", "b"))
	if !errors.Is(err, service.ErrUnavailable) || errors.Is(err, service.ErrLogFailed) || !strings.Contains(err.Error(), "failed") {
		t.Fatalf("append on the failed log: %v, want ErrUnavailable saying the node failed", err)
	}
	waitFor(t, 15*time.Second, "another leader", func() bool {
		for _, nd := range c.running() {
			if nd != old && nd.log.Leader() {
				return true
			}
		}
		return false
	})
	if old.log.Leader() {
		t.Fatal("the failed log still says it leads")
	}
	var nl *node
	for _, nd := range c.running() {
		if nd.log.Leader() {
			nl = nd
		}
	}
	if err := do(nl.log, app("", "c")); err != nil {
		t.Fatal(err)
	}
}

// TestOffsetAtTimeOnEveryNode: the leader's timestamps travel in the
// entries, so every replica finds the same record for the same time.
func TestOffsetAtTimeOnEveryNode(t *testing.T) {
	c := newCluster(t, 3, nil)
	ld := c.leader()
	for i := range 5 {
		if err := do(ld.log, app("", fmt.Sprintf("t%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	c.converged(5)
	var stamps []int64
	for off := range uint64(5) {
		b, err := ld.log.ReadRawBatch(off, 1, 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		var r messages.Record
		if err := messages.UnmarshalRecord(b.Records, &r); err != nil {
			t.Fatal(err)
		}
		stamps = append(stamps, r.Timestamp)
	}
	for _, nd := range c.running() {
		for i, ts := range stamps {
			off, err := nd.log.OffsetAtTime(ts)
			// Records of one moment share its stamp: the first of them.
			want := uint64(i)
			for want > 0 && stamps[want-1] == ts {
				want--
			}
			if err != nil || off != want {
				t.Fatalf("%s: OffsetAtTime(%d) = %d, %v; want %d", nd.cfg.NodeID, ts, off, err, want)
			}
		}
		if off, err := nd.log.OffsetAtTime(stamps[4] + 1); err != nil || off != 5 {
			t.Fatalf("%s: a time after the last record: %d, %v; want the next offset 5", nd.cfg.NodeID, off, err)
		}
	}
}
