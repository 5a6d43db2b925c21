package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/dedup"
	"github.com/evlog/evlog/service/raftlog"
)

// A node of a cluster (Options.NodeID) serves a raftlog.Log in place of
// the local segment log: the same service, with the raftlog as its
// Leadership, so that only the leader takes writes and announces
// commits, and every node serves reads in a queue group. Retention goes
// through a replicated truncation proposed by the leader, so that every
// replica removes the same records; the cluster status is answered over
// NATS (clusterstatus.go) and Raft's state is in the metrics
// (raftmetrics.go) and in /readyz.

// openRaftLog opens the replicated log in Options.Dir and starts Raft.
func (n *node) openRaftLog() error {
	peers, err := n.o.peers() // checked by Validate
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	seg := n.o.segmentConfig()
	seg.OnDamage = n.damage.report
	seg.OnRoll = n.onRoll
	seg.OnRemove = n.onRemove
	l, err := raftlog.Open(raftlog.Config{
		NodeID: n.o.NodeID, Dir: n.o.Dir, Segment: seg,
		Dedup:    dedup.Config{Window: n.o.DedupWindow, MaxIDs: n.o.DedupMaxIDs},
		BindAddr: n.o.RaftAddr, AdvertiseAddr: n.o.RaftAdvertise, Peers: peers,
		TLSCertFile: n.o.RaftTLSCertFile, TLSKeyFile: n.o.RaftTLSKeyFile, TLSCAFile: n.o.RaftTLSCAFile,
		AllowInsecureTransport: n.o.AllowAnonymous,
		Logger:                 n.logger.With("component", "raft"),
	})
	if err != nil {
		return fmt.Errorf("open replicated log: %w", err)
	}
	n.rlog = l
	n.h.raft.Store(l)
	n.h.logOpen.Store(true)
	if n.reg != nil {
		n.reg.MustRegister(newRaftMetrics(l))
	}
	n.logger.Info("replicated log open", "dir", n.o.Dir, "node_id", n.o.NodeID, "raft_addr", l.Addr(),
		"peers", len(peers), "next_offset", l.CommittedOffset())
	return nil
}

// readQueueGroup is the queue group the nodes of a cluster share their
// reads in, one per prefix.
func readQueueGroup(prefix string) string { return service.ServiceName(prefix) + "-reads" }

// startClusterService starts the service on the replicated log, and the
// cluster status responders beside it.
func (n *node) startClusterService() error {
	cfg := serviceConfig(n.o, n.reg)
	cfg.Leadership = n.rlog
	cfg.ReadQueueGroup = readQueueGroup(n.o.Prefix)
	svc, err := service.New(n.nc, n.rlog, cfg)
	if err != nil {
		return err
	}
	n.svc = svc
	n.h.svc.Store(svc)
	st, err := startClusterStatus(n.nc, n.o.Prefix, cfg.ReadQueueGroup, n.rlog, n.logger.With("component", "cluster"))
	if err != nil {
		return errors.Join(err, svc.Stop())
	}
	n.status = st
	return nil
}

// retainReplicated applies the retention policy p on the leader: it
// proposes the truncation the policy calls for, which every node then
// applies. Followers leave it to the leader.
func (n *node) retainReplicated(p segment.RetentionPolicy) error {
	if !n.rlog.Leader() {
		return nil
	}
	lowest, reason, err := n.rlog.RetentionTarget(p, time.Now())
	if err != nil || reason == "" {
		return err
	}
	if _, err := n.rlog.TruncateFront(lowest); err != nil {
		return fmt.Errorf("truncate to %d (%s): %w", lowest, reason, err)
	}
	n.logger.Info("retention: truncated the replicated log", "lowest_offset", lowest, "reason", reason)
	return nil
}

// clusterReady says whether a node of a cluster can serve: it knows a
// leader, and it has applied every entry it knows to be committed, so
// that its reads are not behind what the leader acknowledged.
func clusterReady(l *raftlog.Log) (bool, string) {
	st, err := l.Status()
	switch {
	case err != nil:
		return false, "raft: " + err.Error()
	case st.LeaderID == "":
		return false, "no raft leader known (election under way)"
	case st.AppliedIndex < st.CommitIndex:
		return false, fmt.Sprintf("catching up: applied raft index %d of %d committed", st.AppliedIndex, st.CommitIndex)
	}
	return true, ""
}
