package raftlog

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	walmetrics "github.com/hashicorp/raft-wal/metrics"

	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
)

// retainSnapshots is how many snapshots the store keeps: the newest, and
// one before it in case the newest cannot be opened.
const retainSnapshots = 2

// Log is a service.Log replicated with Raft. Create it with Open and stop
// it with Close.
type Log struct {
	cfg    Config
	logger *slog.Logger
	fsm    *fsm
	raft   *raft.Raft
	trans  *raft.NetworkTransport
	wal    *wal.WAL
	walM   *walmetrics.AtomicCollector
	// walMeta is raft-wal's metadata db, which its Close leaves open
	// (and locked): the Log closes it.
	walMeta *metadb.BoltMetaDB
	// origin names this process in the entries it proposes.
	origin uint64

	// mu guards the fields below; cond signals a change to any of them.
	mu          sync.Mutex
	cond        *sync.Cond
	queue       []*service.Append
	pending     map[uint64][]*service.Append // proposed, by seq
	seq         uint64
	outstanding int // accepted and not yet delivered
	attached    bool
	closed      bool

	sem   chan struct{} // an in-flight slot per proposal
	waitq chan proposal // from the proposer to the waiter, in order

	// deliverMu makes deliveries one at a time; fn receives them.
	deliverMu sync.Mutex
	fn        atomic.Pointer[service.CommitFunc]

	leader        atomic.Bool
	leaderMu      sync.Mutex
	leaderChanged chan struct{}

	failOnce sync.Once
	failed   chan struct{}
	failErr  error // set before failed is closed

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ service.Log = (*Log)(nil)

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
	l := &Log{
		cfg: cfg, logger: cfg.Logger.With("node", cfg.NodeID),
		pending: make(map[uint64][]*service.Append), sem: make(chan struct{}, cfg.MaxInFlight),
		waitq: make(chan proposal, cfg.MaxInFlight), leaderChanged: make(chan struct{}),
		failed: make(chan struct{}), stop: make(chan struct{}),
	}
	l.cond = sync.NewCond(&l.mu)
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	l.origin = binary.BigEndian.Uint64(b[:])
	if err := l.open(raftDir); err != nil {
		return nil, errors.Join(err, l.release())
	}
	l.wg.Add(3)
	go func() { defer l.wg.Done(); l.runProposer() }()
	go func() { defer l.wg.Done(); l.runWaiter() }()
	go func() { defer l.wg.Done(); l.runLeadership() }()
	return l, nil
}

// open opens the state machine, the snapshot store, raft-wal and the
// transport, bootstraps if it must, and starts Raft.
func (l *Log) open(raftDir string) error {
	cfg := l.cfg
	f, err := openFSM(cfg.Dir, cfg.Segment, cfg.Dedup, l.logger)
	if err != nil {
		return err
	}
	l.fsm = f
	f.onApply, f.onFail = l.onApply, l.fail
	snaps, err := newSnapStore(filepath.Join(raftDir, "snap"), retainSnapshots, f.openLive)
	if err != nil {
		return err
	}
	f.restored = snaps.keepStateOnly
	if err := reconcile(f, snaps); err != nil {
		return err
	}
	hl := newHCLog(l.logger, "raft")
	l.walM = walmetrics.NewAtomicCollector(wal.MetricDefinitions)
	l.walMeta = &metadb.BoltMetaDB{}
	if err := os.MkdirAll(filepath.Join(raftDir, "wal"), 0o755); err != nil {
		return fmt.Errorf("open raft-wal: %w", err)
	}
	segBytes := cmp.Or(cfg.WALSegmentBytes, wal.DefaultSegmentSize)
	if l.wal, err = wal.Open(filepath.Join(raftDir, "wal"), wal.WithLogger(hl.Named("wal")),
		wal.WithMetricsCollector(l.walM), wal.WithMetaStore(l.walMeta), wal.WithSegmentSize(segBytes)); err != nil {
		return fmt.Errorf("open raft-wal: %w", err)
	}
	var adv net.Addr
	if cfg.AdvertiseAddr != "" {
		if adv, err = net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr); err != nil {
			return fmt.Errorf("%w: raft advertise address: %w", ErrConfig, err)
		}
	}
	if l.trans, err = raft.NewTCPTransportWithLogger(cfg.BindAddr, adv, 3, 10*time.Second, hl.Named("transport")); err != nil {
		return fmt.Errorf("raft transport: %w", err)
	}
	rc := l.raftConfig(hl)
	if len(cfg.Peers) > 0 {
		if err := l.bootstrap(rc, snaps, cfg.Peers); err != nil {
			return err
		}
	}
	if l.raft, err = raft.NewRaft(rc, f, l.wal, l.wal, snaps, l.trans); err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	return nil
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

// Addr returns the address the Raft transport listens on.
func (l *Log) Addr() string { return string(l.trans.LocalAddr()) }

// Attach makes fn the receiver of the commits. It may be called once.
func (l *Log) Attach(fn service.CommitFunc) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return fmt.Errorf("%w: log is closed", service.ErrUnavailable)
	case l.attached:
		return errors.New("log already attached")
	case fn == nil:
		return errors.New("attach: nil CommitFunc")
	}
	l.attached = true
	l.fn.Store(&fn)
	return nil
}

// Detach waits until every accepted append has been delivered, then
// delivers no more commits.
func (l *Log) Detach() {
	l.mu.Lock()
	for l.outstanding > 0 {
		l.cond.Wait()
	}
	l.mu.Unlock()
	l.deliverMu.Lock()
	l.fn.Store(nil)
	l.deliverMu.Unlock()
}

// Append queues a for the next entry the proposer hands to Raft. It
// refuses at once on a node that is not the leader (ErrUnavailable), so
// that the client retries on the leader.
func (l *Log) Append(a *service.Append) error {
	if len(a.Records) == 0 {
		return fmt.Errorf("%w: an append without records", service.ErrBadRequest)
	}
	for i, r := range a.Records {
		if r == nil {
			return fmt.Errorf("%w: record %d is nil", service.ErrBadRequest, i)
		}
		if _, ok := r.Headers[IndexHeader]; ok {
			return fmt.Errorf("%w: record %d sets header %s, which is reserved", service.ErrBadRequest, i, IndexHeader)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.Err(); err != nil {
		return err
	}
	if l.closed {
		return fmt.Errorf("%w: log is closed", service.ErrUnavailable)
	}
	if !l.leader.Load() {
		addr, _ := l.LeaderAddr()
		return fmt.Errorf("%w: not the leader (the leader is at %q)", service.ErrUnavailable, addr)
	}
	l.queue = append(l.queue, a)
	l.outstanding++
	l.cond.Broadcast()
	return nil
}

// CommittedOffset returns the offset after the last applied record.
func (l *Log) CommittedOffset() uint64 { return l.fsm.committed.Load() }

// CommitChanged returns a channel closed when the committed offset next
// moves.
func (l *Log) CommitChanged() <-chan struct{} { return l.fsm.commitChanged() }

// ReadRawBatch reads applied records as segment.Log.ReadRawBatch does.
// It does not stop at the committed offset: the caller bounds maxRecords.
func (l *Log) ReadRawBatch(offset uint64, maxRecords, maxBytes int, dst []byte) (segment.RawBatch, error) {
	var b segment.RawBatch
	err := l.fsm.read(func(seg *segment.Log) error {
		var err error
		b, err = seg.ReadRawBatch(offset, maxRecords, maxBytes, dst)
		return err
	})
	return b, translate(err)
}

// TruncateFront replicates a truncation and returns the lowest offset
// left once it has applied on this node, the leader.
func (l *Log) TruncateFront(lowest uint64) (uint64, error) {
	if err := l.Err(); err != nil {
		return 0, err
	}
	if !l.leader.Load() {
		return 0, fmt.Errorf("%w: not the leader", service.ErrUnavailable)
	}
	data, err := encodeEntry(&entry{Op: opTruncate, TS: time.Now().UnixNano(), Origin: l.origin, Lowest: lowest})
	if err != nil {
		return 0, err
	}
	f := l.raft.Apply(data, l.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		return 0, applyError(err)
	}
	r, ok := f.Response().(*applyResult)
	if !ok {
		return 0, errors.New("truncate: no result from the state machine")
	}
	return r.lowest, r.err
}

// Stats describes the local segment log.
func (l *Log) Stats() service.LogStats {
	var st service.LogStats
	_ = l.fsm.read(func(seg *segment.Log) error {
		s := seg.Stats()
		st = service.LogStats{
			Segments: s.Segments, Bytes: s.Bytes, LowestOffset: s.LowestOffset, NextOffset: s.NextOffset,
			DedupIDs: l.fsm.ids.Len(),
		}
		return nil
	})
	return st
}

// WALStats counts what this node wrote to Raft's log since Open.
type WALStats struct {
	// EntryBytes is the bytes of the entries written, encoded.
	EntryBytes uint64
	// Entries is how many entries were written.
	Entries uint64
	// Appends is how many batches of entries were written: raft-wal
	// fsyncs once for each.
	Appends uint64
}

// WALStats returns what this node wrote to Raft's log since Open.
func (l *Log) WALStats() WALStats {
	c := l.walM.Summary().Counters
	return WALStats{EntryBytes: c["log_entry_bytes_written"], Entries: c["log_entries_written"], Appends: c["log_appends"]}
}

// Recovered reports what opening the segment log repaired.
func (l *Log) Recovered() []segment.Recovery { return l.fsm.recovered }

// ID returns the local segment log's id. Each node's differs.
func (l *Log) ID() [16]byte {
	var id [16]byte
	_ = l.fsm.read(func(seg *segment.Log) error { id = seg.ID(); return nil })
	return id
}

// Failed is closed once the Log has failed; Err then says why.
func (l *Log) Failed() <-chan struct{} { return l.failed }

// Err returns the failure that closed Failed, or nil.
func (l *Log) Err() error {
	select {
	case <-l.failed:
		return l.failErr
	default:
		return nil
	}
}

// fail makes err, wrapped in ErrLogFailed, the Log's sticky failure.
func (l *Log) fail(err error) {
	l.failOnce.Do(func() {
		if !errors.Is(err, service.ErrLogFailed) {
			err = fmt.Errorf("%w: %w", service.ErrLogFailed, err)
		}
		l.failErr = err
		close(l.failed)
		l.logger.Error("replicated log refuses appends from now on", "error", err)
	})
}

// Close gives up what is queued, shuts Raft down (appends in flight are
// given up), and closes the transport, raft-wal and the segment log.
// Call Detach first to have queued appends committed. It is idempotent.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.cond.Broadcast()
		close(l.stop)
		var errs []error
		if l.raft != nil {
			errs = append(errs, l.raft.Shutdown().Error())
		}
		l.wg.Wait()
		l.setLeader(false)
		errs = append(errs, l.release())
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
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
		errs = append(errs, l.fsm.close())
	}
	return errors.Join(errs...)
}
