package raftlog

import (
	"errors"
	"fmt"
	"log/slog"
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
	// gate is the log store Raft writes through; it tells the proposer
	// when a write is under way.
	gate *storeGate
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
	closed      bool

	sem   chan struct{} // an in-flight slot per proposal
	waitq chan proposal // from the proposer to the waiter, in order

	// deliverMu makes deliveries one at a time; receiver gets them.
	deliverMu sync.Mutex
	receiver  service.Receiver

	leader        atomic.Bool
	leaderMu      sync.Mutex
	leaderChanged chan struct{}

	failure *service.Failure
	// progress is what the leader heard of each follower's log, for the
	// promotion of non-voters (membership.go).
	progress *progress

	stop      chan struct{}
	scrubbed  chan struct{} // closed when runScrub has returned
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var (
	_ service.Log        = (*Log)(nil)
	_ service.Membership = (*Log)(nil)
)

// Addr returns the address the Raft transport listens on.
func (l *Log) Addr() string { return string(l.trans.LocalAddr()) }

// Attach makes fn the receiver of the commits. It may be called once.
func (l *Log) Attach(fn service.CommitFunc) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("%w: log is closed", service.ErrUnavailable)
	}
	return l.receiver.Attach(fn)
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
	l.receiver.Detach()
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
	if err := checkFits(l.cfg.Segment, a); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.Err(); err != nil {
		// This node has failed for good, the cluster need not have:
		// the others elect a leader that takes the append. So 503, which
		// a client retries elsewhere, not a failed single node's 500.
		return fmt.Errorf("%w: this node has failed and takes no appends (%v)", service.ErrUnavailable, err)
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
	return b, service.SegmentError(err)
}

// OffsetAtTime finds the first applied record at or after ts, in unix
// nanoseconds, through the segment log's time index. The segment log under
// the state machine holds committed records only, so no uncommitted record
// can be found; timestamps are the leaders', carried in the entries, and
// never go back.
func (l *Log) OffsetAtTime(ts int64) (uint64, error) {
	var off uint64
	err := l.fsm.read(func(seg *segment.Log) error {
		var err error
		off, err = seg.OffsetAtTime(ts)
		return err
	})
	return off, service.SegmentError(err)
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
func (l *Log) Failed() <-chan struct{} { return l.failure.Failed() }

// Err returns the failure that closed Failed, or nil.
func (l *Log) Err() error { return l.failure.Err() }
