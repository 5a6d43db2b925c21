package raftlog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/dedup"
)

// fsm is the state machine: the segment log, the dedup table and how far
// Raft's log has been applied. Raft calls Apply, Snapshot and Restore from
// its FSM goroutine, one at a time; the fields marked "FSM goroutine" are
// touched by nothing else. Readers go through read, from any goroutine.
type fsm struct {
	dir      string // the segment log's directory
	segCfg   segment.Config
	dedupCfg dedup.Config
	logger   *slog.Logger

	// mu guards seg against its replacement by Restore: readers and
	// snapshots hold it shared, Restore exclusively while it swaps.
	mu        sync.RWMutex
	seg       *segment.Log
	recovered []segment.Recovery

	// FSM goroutine.
	ids     *dedup.Table
	applied uint64 // the last Raft index whose effects are in seg
	lastTS  int64  // the timestamp of the last applied batch

	// committed is the offset after the last applied record: applied
	// means committed by Raft, so it is what readers may see.
	committed atomic.Uint64
	changedMu sync.Mutex
	changed   chan struct{}

	// onApply hears of each applied entry, with its outcome, after the
	// committed offset has moved; onFail of a failure that makes the
	// state machine unusable.
	onApply func(e *entry, r *applyResult)
	onFail  func(error)
	// restored hears of a received snapshot the state was restored from.
	restored func(st snapState) error
	// snapshotDue asks the Log for a snapshot (runSnapshots): a truncate
	// has made the newest one's records unstreamable (openLive).
	snapshotDue chan struct{}
	// synced, if set, hears of each sync of the segment log that an
	// apply makes: tests simulate a power loss at that point.
	synced func()
}

// outcome is what applying one append request decided.
type outcome struct {
	First, Last uint64
	Duplicate   bool
	Err         error // a *service.ConflictError, or this node's failure
}

// applyResult is what applying an entry did: the records it wrote, and
// each append's outcome or the truncate's.
type applyResult struct {
	wrote       bool
	First, Last uint64
	outcomes    []outcome
	lowest      uint64 // of a truncate
	err         error  // of a truncate, or of an entry that could not apply
}

// Apply applies one committed Raft entry. An entry at or below the last
// index applied, which Raft replays after a restart, changes nothing.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand || l.Index <= f.applied {
		return nil
	}
	if f.seg == nil {
		// A failed restore left no log: the node has failed.
		return &applyResult{err: fmt.Errorf("%w: no log to apply to", service.ErrLogFailed)}
	}
	e, err := decodeEntry(l.Data)
	if err != nil {
		// Every replica meets the same entry: skipping it would be
		// deterministic too, but it means a bug or a newer version.
		f.onFail(fmt.Errorf("raft index %d: %w", l.Index, err))
		return &applyResult{err: err}
	}
	var r *applyResult
	switch e.Op {
	case opAppend:
		r = f.applyAppend(l.Index, e)
	case opTruncate:
		r = f.applyTruncate(l.Index, e)
	}
	f.applied = l.Index
	f.onApply(e, r)
	return r
}

// applyAppend decides each append of e from the replicated state alone
// (the dedup table, the next offset, the entry's timestamp) and writes the
// records of those that append as one batch, the last record stamped with
// the entry's index and timestamp.
func (f *fsm) applyAppend(index uint64, e *entry) *applyResult {
	ts := max(e.TS, f.lastTS)
	r := &applyResult{outcomes: make([]outcome, len(e.Appends))}
	seg := f.seg
	before := seg.NextOffset()
	next := before
	var batch []*messages.Record
	inEntry := map[string]dedup.Span{}
	for i, a := range e.Appends {
		o := &r.outcomes[i]
		if s, ok := f.lookup(inEntry, a.ID, ts); ok {
			o.First, o.Last, o.Duplicate = s.First, s.Last, true
			continue
		}
		if a.Expected != nil && *a.Expected != next {
			o.Err = &service.ConflictError{Expected: *a.Expected, NextOffset: next}
			continue
		}
		if len(a.Records) == 0 {
			o.Err = fmt.Errorf("%w: an append without records", service.ErrBadRequest)
			continue
		}
		for _, rec := range a.Records {
			if rec.Timestamp == 0 {
				rec.Timestamp = ts
			}
		}
		if a.ID != "" {
			dedup.Stamp(a.Records, a.ID)
		}
		o.First, o.Last = next, next+uint64(len(a.Records))-1
		if a.ID != "" {
			inEntry[a.ID] = dedup.Span{First: o.First, Last: o.Last}
		}
		next += uint64(len(a.Records))
		batch = append(batch, a.Records...)
	}
	if len(batch) == 0 {
		return r
	}
	stampIndex(batch[len(batch)-1], index, ts)
	if _, err := seg.AppendUnsynced(batch); err != nil {
		f.appendFailed(r, err)
		return r
	}
	for i, a := range e.Appends {
		if o := r.outcomes[i]; a.ID != "" && !o.Duplicate && o.Err == nil {
			f.ids.Add(a.ID, dedup.Span{First: o.First, Last: o.Last}, a.Records[0].Timestamp)
		}
	}
	f.lastTS = ts
	r.wrote, r.First, r.Last = true, before, next-1
	f.advance(next)
	return r
}

// lookup finds id among the ids applied before (at ts) and those of the
// entry being applied.
func (f *fsm) lookup(inEntry map[string]dedup.Span, id string, ts int64) (dedup.Span, bool) {
	if id == "" {
		return dedup.Span{}, false
	}
	if s, ok := inEntry[id]; ok {
		return s, true
	}
	// Find forgets nothing: ts is not stored when the entry writes no
	// record, and a replica rebuilt from the records must hold what this
	// one holds.
	return f.ids.Find(id, ts)
}

// appendFailed settles an entry whose batch the segment log refused: it
// is this node's failure, and fails the log. A record too large for a
// segment included: the leader refused those before proposing
// (checkFits), so one here means this node's segments are smaller than
// the leader's, and refusing it would make this replica decide otherwise
// than the others. The entry is committed all the same, on a majority
// that other nodes may hold without this one, so its appends are answered
// as of unknown outcome (applyError), which tells a client to retry with
// the id.
func (f *fsm) appendFailed(r *applyResult, err error) {
	r.err = fmt.Errorf("%w: apply: %w", service.ErrLogFailed, err)
	unknown := applyError(r.err)
	for i := range r.outcomes {
		if o := &r.outcomes[i]; !o.Duplicate && o.Err == nil {
			*o = outcome{Err: unknown}
		}
	}
	f.onFail(r.err)
}

// applyTruncate raises the low-water mark, forgets the append ids of the
// records it removed (dedup.Table.ForgetBelow), as a replica that rebuilds
// its table from the log after a restart or an install would, and records
// the index and the last timestamp in the applied file, since a truncate
// may leave no record to carry them. The
// applied file claims every entry up to index, so the records of the
// entries before it, which no apply syncs, are synced first: a truncate
// at or below the low-water mark syncs nothing by itself, and a crash
// would otherwise leave the file claiming records that are gone.
func (f *fsm) applyTruncate(index uint64, e *entry) *applyResult {
	r := &applyResult{}
	before, _ := f.seg.LowestOffset() // an error, TruncateFront meets it too
	if err := f.seg.TruncateFront(e.Lowest); err != nil {
		r.err = service.SegmentError(err)
		if !errors.Is(err, segment.ErrOffsetOutOfRange) {
			f.onFail(fmt.Errorf("%w: truncate: %w", service.ErrLogFailed, err))
		}
		return r
	}
	low, err := f.seg.LowestOffset()
	if err == nil {
		err = f.syncLog()
	}
	if err == nil {
		err = writeApplied(f.dir, appliedState{index: index, ts: f.lastTS})
	}
	if err != nil {
		r.err = fmt.Errorf("%w: truncate: %w", service.ErrLogFailed, err)
		f.onFail(r.err)
		return r
	}
	f.ids.ForgetBelow(low)
	if low > before {
		f.wantSnapshot()
	}
	r.lowest = low
	return r
}

// wantSnapshot asks for a snapshot of the current state, unless one is
// asked for already. A snapshot taken before a truncate that moved the
// low-water mark can no longer be streamed to a follower (openLive): the
// new one can, and Raft sends the newest.
func (f *fsm) wantSnapshot() {
	select {
	case f.snapshotDue <- struct{}{}:
	default:
	}
}

// syncLog makes every record applied so far durable.
func (f *fsm) syncLog() error {
	err := f.seg.Sync()
	if f.synced != nil {
		f.synced()
	}
	return err
}

// advance makes next the committed offset and wakes the readers waiting
// for it.
func (f *fsm) advance(next uint64) {
	f.committed.Store(next)
	f.changedMu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.changedMu.Unlock()
}

// commitChanged returns a channel closed when the committed offset next
// moves.
func (f *fsm) commitChanged() <-chan struct{} {
	f.changedMu.Lock()
	defer f.changedMu.Unlock()
	return f.changed
}

// read runs fn on the current segment log, which Restore does not swap
// meanwhile.
func (f *fsm) read(fn func(*segment.Log) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.seg == nil {
		return fmt.Errorf("%w: log is closed", service.ErrUnavailable)
	}
	return fn(f.seg)
}

// Snapshot captures the state's metadata; Persist syncs the segment log
// before it is written (see snapshot.go).
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if f.seg == nil {
		// A failed restore left no log: the node has failed.
		return nil, fmt.Errorf("%w: no log to snapshot", service.ErrLogFailed)
	}
	low, err := f.seg.LowestOffset()
	if err != nil {
		return nil, service.SegmentError(err)
	}
	return &fsmSnapshot{f: f, st: snapState{
		Next: f.seg.NextOffset(), Lowest: low, LastTS: f.lastTS, Live: true,
	}}, nil
}

// Restore replaces the state with the snapshot stream rc (restore.go),
// then has the received stream it came from cut down to its state.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := f.restore(rc)
	if err != nil {
		return err
	}
	if f.restored != nil {
		if err := f.restored(st); err != nil {
			f.logger.Warn("restored snapshot kept in full", "raft_index", st.Index, "error", err)
		}
	}
	return nil
}

// saveIDs saves the dedup table for the next open. The caller has
// stopped Raft, so that nothing applies any more. Once the Log failed
// (failed) it removes the checkpoint instead: the table may have gone
// ahead of the records, and a node failed for damage must read its window
// at the next open, which refuses it if the damage is there.
func (f *fsm) saveIDs(failed error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if failed != nil || f.seg == nil || f.ids == nil {
		removeIDs(f.dir, f.logger)
		return
	}
	saveIDs(f.dir, f.seg, f.ids, f.logger)
}

// close closes the segment log.
func (f *fsm) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seg == nil {
		return nil
	}
	err := f.seg.Close()
	f.seg = nil
	return err
}
