package raftlog

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
)

// Member is a member of Raft's configuration.
type Member struct {
	ID, Address string
	// Voter says the member votes; a non-voter only receives the log.
	Voter bool
}

// Status is this node's view of Raft.
type Status struct {
	// NodeID is this node's id, and State its Raft state: "Leader",
	// "Follower", "Candidate" or "Shutdown".
	NodeID string
	State  string
	// Leader says the node takes writes (see Log.Leader); LeaderID and
	// LeaderAddr name the leader as this node knows it.
	Leader               bool
	LeaderID, LeaderAddr string
	// Term is the current term. LastIndex is the last entry in this
	// node's Raft log, CommitIndex the highest it knows committed,
	// AppliedIndex the highest its state machine applied.
	Term, LastIndex, CommitIndex, AppliedIndex uint64
	// AppliedOffset is the offset after the last record applied, the
	// offset readers see next.
	AppliedOffset uint64
	// Members is Raft's latest configuration, in its order.
	Members []Member
}

// Status returns this node's view of Raft.
func (l *Log) Status() (Status, error) {
	addr, id := l.LeaderAddr()
	st := Status{
		NodeID: l.cfg.NodeID, State: l.raft.State().String(),
		Leader: l.Leader(), LeaderID: id, LeaderAddr: addr,
		Term: l.raft.CurrentTerm(), LastIndex: l.raft.LastIndex(),
		CommitIndex: l.raft.CommitIndex(), AppliedIndex: l.raft.AppliedIndex(),
		AppliedOffset: l.CommittedOffset(),
	}
	// Raft's main loop answers, or its shutdown does.
	f := l.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return st, fmt.Errorf("raft configuration: %w", err)
	}
	for _, s := range f.Configuration().Servers {
		st.Members = append(st.Members, Member{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return st, nil
}

// RetentionTarget returns the offset that retention policy p would
// truncate this node's log to at now, and the limits that decided it
// (segment.Log.RetentionTarget); an empty reason means nothing is due. On
// the leader, which holds everything committed, the node proposes it
// with TruncateFront, so that every replica removes the same records.
func (l *Log) RetentionTarget(p segment.RetentionPolicy, now time.Time) (uint64, string, error) {
	var (
		lowest uint64
		reason string
	)
	err := l.fsm.read(func(seg *segment.Log) error {
		var err error
		lowest, reason, err = seg.RetentionTarget(p, now)
		return err
	})
	return lowest, reason, service.SegmentError(err)
}
