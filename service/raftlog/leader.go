package raftlog

import (
	"github.com/hashicorp/raft"
)

// runLeadership follows Raft's leadership until the Log closes. Winning
// an election is not enough to take writes: the new leader's FSM may not
// have applied every committed entry yet, so an expected offset or a
// dedup lookup decided now would be decided on stale state, and a read
// would miss acknowledged records. So a barrier first, and only then is
// the Log the leader. Losing is reported at once.
//
// A Log that has failed stops taking writes and hands the leadership to
// another node, so that the cluster goes on taking appends without it.
func (l *Log) runLeadership() {
	ch := l.raft.LeaderCh()
	failed := l.failure.Failed()
	for {
		select {
		case <-l.stop:
			return
		case <-failed:
			failed = nil // once
			l.setLeader(false)
			if l.raft.State() == raft.Leader {
				if err := l.raft.LeadershipTransfer().Error(); err != nil {
					l.logger.Warn("handing the leadership away from a failed log", "error", err)
				}
			}
		case won := <-ch:
			if !won || l.Err() != nil {
				l.setLeader(false)
				continue
			}
			l.awaitBarrier()
		}
	}
}

// awaitBarrier makes the Log the leader once a barrier has applied, while
// Raft still says it leads.
func (l *Log) awaitBarrier() {
	for {
		err := l.raft.Barrier(l.cfg.ApplyTimeout).Error()
		if l.raft.State() != raft.Leader {
			return
		}
		if err == nil {
			l.setLeader(true)
			return
		}
		l.logger.Warn("barrier after winning the election failed; retrying", "error", err)
		select {
		case <-l.stop:
			return
		default:
		}
	}
}

// setLeader records whether the Log takes writes and wakes those waiting
// on LeaderChanged.
func (l *Log) setLeader(v bool) {
	if l.leader.Swap(v) == v {
		return
	}
	l.logger.Info("leadership changed", "node", l.cfg.NodeID, "leader", v)
	l.leaderMu.Lock()
	close(l.leaderChanged)
	l.leaderChanged = make(chan struct{})
	l.leaderMu.Unlock()
}

// Leader says whether this node is the leader and has applied everything
// committed before its term: whether it takes appends and truncates.
func (l *Log) Leader() bool { return l.leader.Load() }

// LeaderChanged returns a channel closed when Leader next changes: take
// the channel, then read Leader, then wait on the channel.
func (l *Log) LeaderChanged() <-chan struct{} {
	l.leaderMu.Lock()
	defer l.leaderMu.Unlock()
	return l.leaderChanged
}

// LeaderAddr returns the Raft address and id of the current leader as
// this node knows it, empty when it knows none.
func (l *Log) LeaderAddr() (addr, id string) {
	a, i := l.raft.LeaderWithID()
	return string(a), string(i)
}
