package raftlog

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service"
)

// PromoteLag is how many entries a non-voter may be behind the leader's
// commit index and still be promoted to a voter: close enough that it
// counts towards a majority as soon as it votes, without waiting for an
// idle moment on a cluster that takes appends all the time.
const PromoteLag = 256

// Membership changes go through the leader. A node joins as a non-voter:
// it receives the log, by entries or by an install, without counting
// towards a majority, so that adding it cannot cost the cluster its
// quorum while it catches up (adding a voter that holds nothing makes a
// 3-node cluster need 3 of 4 at once). The leader promotes it once its
// last index is within PromoteLag of the commit index; runPromoter does
// that, from what the heartbeats tell (progressTransport).

// AddMember adds node id, whose Raft transport is at addr, as a non-voter
// that the leader promotes to a voter once it has caught up. Adding a
// member again at the same address changes nothing; at another address it
// is refused (remove it first). It refuses with service.ErrUnavailable on
// a node that is not the leader, and with service.ErrBadRequest for an
// empty id or an address that is not host:port.
func (l *Log) AddMember(id, addr string) error {
	if id == "" {
		return fmt.Errorf("%w: a member needs an id", service.ErrBadRequest)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%w: member %s: raft address %q: %v", service.ErrBadRequest, id, addr, err)
	}
	conf, index, err := l.configuration()
	if err != nil {
		return err
	}
	for _, s := range conf.Servers {
		switch {
		case string(s.ID) == id && string(s.Address) == addr:
			return nil
		case string(s.ID) == id:
			return fmt.Errorf("%w: member %s is at %s already; remove it first", service.ErrBadRequest, id, s.Address)
		case string(s.Address) == addr:
			return fmt.Errorf("%w: address %s is member %s's", service.ErrBadRequest, addr, s.ID)
		}
	}
	l.progress.forget(raft.ServerID(id))
	if err := l.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), index, l.cfg.ApplyTimeout).Error(); err != nil {
		return membershipError("add member "+id, err)
	}
	l.logger.Info("added a non-voter; it is promoted once it has caught up", "member", id, "address", addr)
	return nil
}

// RemoveMember removes node id from the cluster. Removing the leader
// itself works: it leaves once the change has committed, and the others
// elect a leader among themselves. A removed node's Raft stops; its
// process should be stopped and its directory wiped before it joins
// again. It refuses with service.ErrUnknownMember for an id that is not
// a member, and with service.ErrUnavailable on a node that is not the
// leader.
func (l *Log) RemoveMember(id string) error {
	conf, index, err := l.configuration()
	if err != nil {
		return err
	}
	if _, ok := findServer(conf, id); !ok {
		return fmt.Errorf("%w: %q", service.ErrUnknownMember, id)
	}
	if err := l.raft.RemoveServer(raft.ServerID(id), index, l.cfg.ApplyTimeout).Error(); err != nil {
		return membershipError("remove member "+id, err)
	}
	l.progress.forget(raft.ServerID(id))
	l.logger.Info("removed a member", "member", id)
	return nil
}

// TransferLeadership hands the leadership to voter to, or to the voter
// most up to date when to is empty, and returns once Raft has done so.
// It refuses with service.ErrUnknownMember for an id that is not a
// member, with service.ErrBadRequest for a non-voter or this node, and
// with service.ErrUnavailable on a node that is not the leader.
func (l *Log) TransferLeadership(to string) error {
	conf, _, err := l.configuration()
	if err != nil {
		return err
	}
	f := l.raft.LeadershipTransfer
	if to != "" {
		s, ok := findServer(conf, to)
		switch {
		case !ok:
			return fmt.Errorf("%w: %q", service.ErrUnknownMember, to)
		case s.Suffrage != raft.Voter:
			return fmt.Errorf("%w: member %s does not vote yet and cannot lead", service.ErrBadRequest, to)
		case to == l.cfg.NodeID:
			return fmt.Errorf("%w: member %s leads already", service.ErrBadRequest, to)
		}
		f = func() raft.Future { return l.raft.LeadershipTransferToServer(s.ID, s.Address) }
	}
	if err := f().Error(); err != nil {
		return membershipError("transfer the leadership", err)
	}
	l.logger.Info("leadership transferred", "to", to)
	return nil
}

// configuration returns Raft's latest configuration and its index, on
// the leader; elsewhere it refuses with service.ErrUnavailable, since
// only the leader changes the membership.
func (l *Log) configuration() (raft.Configuration, uint64, error) {
	if err := l.Err(); err != nil {
		return raft.Configuration{}, 0, err
	}
	if l.raft.State() != raft.Leader {
		return raft.Configuration{}, 0, fmt.Errorf("%w: not the leader", service.ErrUnavailable)
	}
	f := l.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return raft.Configuration{}, 0, fmt.Errorf("%w: raft configuration: %w", service.ErrUnavailable, err)
	}
	return f.Configuration(), f.Index(), nil
}

func findServer(conf raft.Configuration, id string) (raft.Server, bool) {
	for _, s := range conf.Servers {
		if string(s.ID) == id {
			return s, true
		}
	}
	return raft.Server{}, false
}

// membershipError wraps the error of a membership change. Raft refuses
// one on a node that lost the leadership, while another change or a
// transfer is under way, or when the configuration changed since it was
// read: each may be retried, on the leader, with the configuration then.
func membershipError(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", service.ErrUnavailable, op, err)
}

// runPromoter promotes, on the leader, each non-voter that has caught
// up, until the Log closes. It looks every half heartbeat timeout.
func (l *Log) runPromoter() {
	t := time.NewTicker(l.cfg.HeartbeatTimeout / 2)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if l.raft.State() != raft.Leader || l.Err() != nil {
			continue
		}
		if err := l.promoteCaughtUp(); err != nil {
			l.logger.Warn("promoting a non-voter failed; trying again", "error", err)
		}
	}
}

// promoteCaughtUp promotes the first non-voter heard from lately whose
// log is known to match the leader's to within PromoteLag of the commit
// index. One change at a time:
// the next waits for the next look, at the new configuration.
func (l *Log) promoteCaughtUp() error {
	f := l.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	commit := l.raft.CommitIndex()
	for _, s := range f.Configuration().Servers {
		if s.Suffrage != raft.Nonvoter {
			continue
		}
		last, ok := l.progress.matched(s.ID, 2*l.cfg.HeartbeatTimeout)
		if !ok || last+PromoteLag < commit {
			continue
		}
		if err := l.raft.AddVoter(s.ID, s.Address, f.Index(), l.cfg.ApplyTimeout).Error(); err != nil {
			return fmt.Errorf("promote %s: %w", s.ID, err)
		}
		l.logger.Info("promoted a non-voter that caught up", "member", s.ID, "last_index", last, "commit_index", commit)
		return nil
	}
	return nil
}

// Members returns the members of Raft's latest configuration.
func (l *Log) Members() ([]messages.ClusterMember, error) {
	f := l.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	var ms []messages.ClusterMember
	for _, s := range f.Configuration().Servers {
		ms = append(ms, messages.ClusterMember{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return ms, nil
}
