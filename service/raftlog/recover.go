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
// cfg.Dir to peers, this node alone: the survivor chosen when a cluster
// has lost its quorum for good, the one with the longest Raft log. It is
// then started again, without a peer list, and leads a cluster of one;
// the other survivors are wiped, started empty and added back with
// AddMember, so that the leader installs its log on them. Recovering
// several survivors would apply each one's own uncommitted tail: their
// Raft logs would then look alike, and their segment logs differ. So a
// peer list of more than one member, or one without this node, is
// ErrConfig.
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
		return fmt.Errorf("%w: recover needs this node as its peer list", ErrConfig)
	case len(peers) > 1:
		return fmt.Errorf("%w: recover makes a cluster of this node alone, not of %d: recover one survivor, then wipe the others and add them back", ErrConfig, len(peers))
	case peers[0].ID != cfg.NodeID:
		return fmt.Errorf("%w: recover's peer %q is not this node %q", ErrConfig, peers[0].ID, cfg.NodeID)
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
