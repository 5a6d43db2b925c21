package raftlog

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	walmetrics "github.com/hashicorp/raft-wal/metrics"

	"github.com/evlog/evlog/service"
)

// retainSnapshots is how many snapshots the store keeps: the newest, and
// one before it in case the newest cannot be opened.
const retainSnapshots = 2

// Open opens the node's state in cfg.Dir, or creates it, and starts Raft.
// When the node has no Raft state and cfg.Peers is set, it bootstraps the
// cluster from the peers, as every node of a new cluster does with the
// same list; with Raft state it ignores them.
func Open(cfg Config) (*Log, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	raftDir := filepath.Join(cfg.Dir, "raft")
	if err := os.MkdirAll(raftDir, 0o755); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	l := newLog(cfg)
	if err := l.open(raftDir); err != nil {
		return nil, errors.Join(err, l.release())
	}
	l.wg.Add(5)
	go func() { defer l.wg.Done(); l.runScrub() }()
	go func() { defer l.wg.Done(); l.runProposer() }()
	go func() { defer l.wg.Done(); l.runWaiter() }()
	go func() { defer l.wg.Done(); l.runLeadership() }()
	go func() { defer l.wg.Done(); l.runPromoter() }()
	if !cfg.noSnapshotOnTruncate {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.runSnapshots() }()
	}
	return l, nil
}

// newLog returns a Log of cfg that has opened nothing yet.
func newLog(cfg Config) *Log {
	logger := cfg.Logger.With("node", cfg.NodeID)
	l := &Log{
		cfg: cfg, logger: logger,
		pending: make(map[uint64][]*service.Append), sem: make(chan struct{}, cfg.MaxInFlight),
		waitq: make(chan proposal, cfg.MaxInFlight), leaderChanged: make(chan struct{}),
		failure: service.NewFailure(logger, "replicated log refuses appends from now on"), stop: make(chan struct{}),
		scrubbed: make(chan struct{}),
		progress: newProgress(),
	}
	l.cond = sync.NewCond(&l.mu)
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	l.origin = binary.BigEndian.Uint64(b[:])
	return l
}

// open opens the node's state (openState) and the transport, bootstraps
// if it must, and starts Raft.
func (l *Log) open(raftDir string) error {
	cfg := l.cfg
	hl := newHCLog(l.logger, "raft")
	snaps, err := l.openState(raftDir, hl)
	if err != nil {
		return err
	}
	if l.trans, err = newTransport(cfg, hl.Named("transport")); err != nil {
		return err
	}
	rc := l.raftConfig(hl)
	if err := l.checkRaftState(snaps); err != nil {
		return err
	}
	if len(cfg.Peers) > 0 {
		if err := l.bootstrap(rc, snaps, cfg.Peers); err != nil {
			return err
		}
	}
	// Raft reads back every entry it sends to a follower. raft-wal reads
	// each with a 64 KiB pread from its preallocated file, which fills
	// the page cache past the write point with large folios that the
	// next small synced write then dirties whole: at 1 in flight the
	// leader read 256 KiB and dirtied 512 KiB of pages per 100-byte
	// record. The entries being replicated are the newest ones, which
	// Raft holds in memory anyway until they commit, so a cache of the
	// last MaxInFlight entries serves them without reading the file.
	cache, err := raft.NewLogCache(cfg.MaxInFlight, l.wal)
	if err != nil {
		return fmt.Errorf("raft log cache: %w", err)
	}
	l.gate = newStoreGate(cache)
	if l.raft, err = raft.NewRaft(rc, l.fsm, l.gate, l.wal, snaps, &progressTransport{NetworkTransport: l.trans, progress: l.progress}); err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	return nil
}

// openState opens the state machine, the snapshot store and raft-wal,
// and reconciles the state machine with the newest snapshot.
func (l *Log) openState(raftDir string, hl *hclogAdapter) (*snapStore, error) {
	cfg := l.cfg
	gate := &damageGate{fail: l.failure.Fail, dir: cfg.Dir}
	f, err := openFSM(cfg.Dir, gate.wrap(cfg.Segment), cfg.Dedup, l.logger)
	if err != nil {
		return nil, err
	}
	gate.arm()
	l.fsm = f
	f.onApply, f.onFail = l.onApply, l.failure.Fail
	snaps, err := newSnapStore(filepath.Join(raftDir, "snap"), retainSnapshots, f.openLive)
	if err != nil {
		return nil, err
	}
	f.restored = snaps.keepStateOnly
	if err := reconcile(f, snaps); err != nil {
		return nil, err
	}
	l.walM = walmetrics.NewAtomicCollector(wal.MetricDefinitions)
	l.walMeta = &metadb.BoltMetaDB{}
	if err := os.MkdirAll(filepath.Join(raftDir, "wal"), 0o755); err != nil {
		return nil, fmt.Errorf("open raft-wal: %w", err)
	}
	segBytes := cmp.Or(cfg.WALSegmentBytes, wal.DefaultSegmentSize)
	if l.wal, err = wal.Open(filepath.Join(raftDir, "wal"), wal.WithLogger(hl.Named("wal")),
		wal.WithMetricsCollector(l.walM), wal.WithMetaStore(l.walMeta), wal.WithSegmentSize(segBytes)); err != nil {
		return nil, fmt.Errorf("open raft-wal: %w", err)
	}
	return snaps, nil
}

func (l *Log) raftConfig(hl *hclogAdapter) *raft.Config {
	cfg := l.cfg
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout, rc.ElectionTimeout = cfg.HeartbeatTimeout, cfg.ElectionTimeout
	rc.LeaderLeaseTimeout, rc.CommitTimeout = cfg.LeaderLeaseTimeout, cfg.CommitTimeout
	rc.TrailingLogs, rc.SnapshotThreshold, rc.SnapshotInterval = cfg.TrailingLogs, cfg.SnapshotThreshold, cfg.SnapshotInterval
	// The segment log on disk already is the state of the newest
	// snapshot or a later one (reconcile checks it): restoring would
	// copy the log onto itself.
	rc.NoSnapshotRestoreOnStart = true
	rc.Logger = hl
	return rc
}

// bootstrap writes the initial configuration of peers, unless the node
// has Raft state already.
func (l *Log) bootstrap(rc *raft.Config, snaps raft.SnapshotStore, peers []Peer) error {
	has, err := raft.HasExistingState(l.wal, l.wal, snaps)
	if err != nil || has {
		return err
	}
	var conf raft.Configuration
	for _, p := range peers {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Address)})
	}
	if err := raft.BootstrapCluster(rc, l.wal, l.wal, snaps, l.trans, conf); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	l.logger.Info("bootstrapped a new cluster", "peers", len(peers))
	return nil
}

// checkRaftState refuses a segment log that has applied Raft entries
// when there is no Raft state: raft/ was removed alone. Raft would start
// from index 1 again, and the state machine, ahead of it, would skip the
// new entries as applied already.
func (l *Log) checkRaftState(snaps raft.SnapshotStore) error {
	if l.fsm.applied == 0 {
		return nil
	}
	has, err := raft.HasExistingState(l.wal, l.wal, snaps)
	if err != nil || has {
		return err
	}
	return fmt.Errorf("%w: %s holds a segment log applied up to raft index %d but no raft state (was %s removed alone?): "+
		"move the whole directory aside so that the node starts empty and the leader installs the log",
		ErrNoState, l.cfg.Dir, l.fsm.applied, filepath.Join(l.cfg.Dir, "raft"))
}

// reconcile checks the state machine against the newest snapshot, which
// Raft takes as applied at start. A received snapshot whose restore a
// crash interrupted is restored now; a snapshot of this node's own log
// holding more than the log does means records a sync claimed are gone.
func reconcile(f *fsm, snaps *snapStore) error {
	metas, err := snaps.List()
	if err != nil || len(metas) == 0 {
		return err
	}
	m := metas[0]
	st, err := snaps.state(m.ID)
	if err != nil {
		return err
	}
	if st.Live {
		if next := f.seg.NextOffset(); next < st.Next {
			return fmt.Errorf("%w: snapshot %s holds offsets up to %d, the log only up to %d", service.ErrLogFailed, m.ID, st.Next, next)
		}
		return nil
	}
	if f.applied >= m.Index {
		return nil
	}
	_, rc, err := snaps.Open(m.ID)
	if err != nil {
		return err
	}
	return f.Restore(rc)
}

// Close gives up what is queued, shuts Raft down (appends in flight are
// given up), and closes the transport, raft-wal and the segment log.
// Call Detach first to have queued appends committed. It is idempotent.
//
// Raft's shutdown waits for its goroutines, the FSM's among them, and a
// hung disk can hold those for ever. So Close waits at most closeTimeout
// for it; past that it returns ErrCloseTimeout and leaves Raft, the files
// and the goroutines as they are, for the process to exit.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.cond.Broadcast()
		close(l.stop)
		var errs []error
		if l.raft != nil {
			err := l.shutdownRaft()
			if errors.Is(err, ErrCloseTimeout) {
				l.closeErr = err
				return
			}
			errs = append(errs, err)
		}
		l.wg.Wait()
		l.setLeader(false)
		errs = append(errs, l.release())
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// ErrCloseTimeout is returned by Close when Raft did not shut down within
// the deadline, a hung disk holding its goroutines: the Log is left open.
var ErrCloseTimeout = errors.New("raft did not shut down in time")

// shutdownRaft shuts Raft down, waiting for it at most closeTimeout, and
// returns ErrCloseTimeout if Raft did not finish by then.
func (l *Log) shutdownRaft() error {
	done := make(chan error, 1)
	// The goroutine ends when Raft's shutdown does; after a timeout, that
	// may be never, which is what the error reports.
	go func() { done <- l.raft.Shutdown().Error() }()
	d := l.closeTimeout()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("close: %w within %v (a hung disk?); its goroutines and files are left", ErrCloseTimeout, d)
	}
}

// closeTimeout is how long Close waits for Raft: a few apply timeouts,
// at least a minute, so that a slow but working disk is waited for.
func (l *Log) closeTimeout() time.Duration {
	return max(4*l.cfg.ApplyTimeout, time.Minute)
}

// release closes what open opened.
func (l *Log) release() error {
	var errs []error
	if l.trans != nil {
		// Closing the pooled outbound connections ends the peers'
		// handlers of them; Close alone only stops the listener.
		l.trans.CloseStreams()
		errs = append(errs, l.trans.Close())
	}
	if l.wal != nil {
		errs = append(errs, l.wal.Close())
	}
	if l.walMeta != nil {
		errs = append(errs, l.walMeta.Close())
	}
	if l.fsm != nil {
		l.fsm.saveIDs(l.Err())
		errs = append(errs, l.fsm.close())
	}
	return errors.Join(errs...)
}
