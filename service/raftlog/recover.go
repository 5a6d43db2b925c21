package raftlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/raft"
)

// ErrNoState is returned by Recover for a directory that holds no Raft
// state: there is nothing to recover, and a new node is started instead.
var ErrNoState = errors.New("no raft state to recover")

// Recover rewrites, offline, the membership of the node whose state is in
// cfg.Dir to peers: the members that survive when a cluster has lost its
// quorum for good, this node among them. Every surviving node is stopped
// and recovered with the same list, then started again, without a peer
// list; they then elect a leader among themselves.
//
// Recovering is a last resort, and it loses what it cannot see: every
// entry in this node's Raft log is applied, committed or not, and an
// append acknowledged by a majority that did not include this node is
// gone. Only cfg.NodeID, cfg.Dir, the sizes of the logs (cfg.Segment,
// cfg.Dedup) and cfg.Logger are used; nothing listens.
func Recover(cfg Config, peers []Peer) error {
	cfg = cfg.withDefaults()
	cfg.Peers = peers
	switch {
	case cfg.NodeID == "":
		return fmt.Errorf("%w: no node id", ErrConfig)
	case cfg.Dir == "":
		return fmt.Errorf("%w: no directory", ErrConfig)
	case len(peers) == 0:
		return fmt.Errorf("%w: recover needs the surviving members, this node among them", ErrConfig)
	}
	if err := cfg.validatePeers(); err != nil {
		return err
	}
	raftDir := filepath.Join(cfg.Dir, "raft")
	if _, err := os.Stat(filepath.Join(raftDir, "wal")); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w in %s", ErrNoState, cfg.Dir)
	}
	l := newLog(cfg)
	hl := newHCLog(l.logger, "raft")
	snaps, err := l.openState(raftDir, hl)
	if err != nil {
		return errors.Join(err, l.release())
	}
	var conf raft.Configuration
	for _, p := range peers {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Address)})
	}
	err = raft.RecoverCluster(l.raftConfig(hl), recoveryFSM{l.fsm}, l.wal, l.wal, recoverySnaps{snaps}, nil, conf)
	if err != nil {
		err = fmt.Errorf("recover: %w", err)
	} else if err = l.Err(); err != nil {
		err = fmt.Errorf("recover: applying the raft log: %w", err)
	} else {
		l.logger.Info("recovered the cluster's membership", "peers", len(peers), "next_offset", l.CommittedOffset())
	}
	return errors.Join(err, l.release())
}

// recoveryFSM is the state machine as raft.RecoverCluster sees it.
// RecoverCluster restores the newest snapshot before it replays the log
// after it, and so would copy the segment log onto itself: the log
// already is that snapshot's state or a later one (openState reconciled
// it), as at every start (Raft runs with NoSnapshotRestoreOnStart). So
// the restore reads nothing, and the replay skips what the log holds.
type recoveryFSM struct{ *fsm }

// Restore leaves the state as it is; RecoverCluster closes r.
func (recoveryFSM) Restore(io.ReadCloser) error { return nil }

// recoverySnaps is the snapshot store as raft.RecoverCluster sees it.
// RecoverCluster opens a snapshot only to hand it to recoveryFSM.Restore,
// which reads nothing; streaming it from the live log would fail once a
// truncate had passed the snapshot's records, and the node could never be
// recovered. So Open returns the metadata and an empty stream.
type recoverySnaps struct{ *snapStore }

// Open returns the metadata of snapshot id and an empty stream.
func (s recoverySnaps) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, err := readMeta(filepath.Join(s.dir, id))
	if err != nil {
		return nil, nil, err
	}
	return meta, io.NopCloser(strings.NewReader("")), nil
}
