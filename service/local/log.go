package local

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/dedup"
)

// Config configures a Log. The zero value of each field means its default.
type Config struct {
	// Logger receives the failure report. Nil is silent.
	Logger *slog.Logger
	// Dedup sizes the table of append ids; see package dedup.
	Dedup dedup.Config
}

// Log serves a segment.Log as a service.Log. Create it with New and stop it
// with Close.
type Log struct {
	seg    *segment.Log
	mode   segment.SyncMode
	logger *slog.Logger
	c      *committer

	// mu serialises writing to the segment log with queueing for the
	// committer, so that the queue holds appends in offset order and an
	// append is only written when its place in the queue is certain. It
	// also guards closed and the inline commits. Lock order: mu before
	// the committer's mu.
	mu     sync.Mutex
	closed bool
	inline [1]*service.Append
	// ids remembers the recent append ids; under mu.
	ids *dedup.Table
	// stamp holds the headers of an append's id while it is written;
	// under mu.
	stamp [2]messages.Header

	// fn receives the commits; nil before Attach and after Detach.
	receiver service.Receiver

	// committed is the offset after the last committed record. Only
	// commit advances it.
	committed atomic.Uint64
	// changedMu guards changed, closed and replaced as committed moves,
	// and watched, which says whether CommitChanged handed it out since:
	// one nobody holds is left open, sparing a channel per commit when
	// nobody follows.
	changedMu sync.Mutex
	changed   chan struct{}
	watched   bool

	failure *service.Failure
	saver   *idsSaver

	closeOnce sync.Once
}

// New serves l, whose sync mode it follows. Under SyncAlways it first
// syncs l. It loads the table of append ids from the checkpoint the last
// Close saved, or rebuilds it from the records of l's tail within the
// window. The caller keeps l and closes it after Close.
func New(l *segment.Log, cfg Config) (*Log, error) {
	if l == nil {
		return nil, errors.New("local log: nil segment log")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ids, read, err := loadIDs(l, cfg.Dedup, cfg.Logger)
	if err != nil {
		return nil, err
	}
	lg := &Log{
		ids:     ids,
		seg:     l,
		mode:    l.SyncMode(),
		logger:  cfg.Logger,
		changed: make(chan struct{}),
		failure: service.NewFailure(cfg.Logger, "log refuses appends from now on"),
	}
	if lg.mode == segment.SyncAlways {
		if err := l.Sync(); err != nil {
			return nil, fmt.Errorf("sync log: %w", err)
		}
	}
	lg.committed.Store(l.NextOffset())
	lg.c = startCommitter(lg.commit)
	lg.startSaver(read)
	return lg, nil
}

// Attach makes fn the receiver of the commits. It may be called once.
func (l *Log) Attach(fn service.CommitFunc) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("%w: log is closed", service.ErrUnavailable)
	}
	return l.receiver.Attach(fn)
}

// Detach waits for the committer to deliver what is queued, then delivers
// no more commits.
func (l *Log) Detach() {
	// Under mu nothing more is queued or committed inline.
	l.mu.Lock()
	defer l.mu.Unlock()
	l.c.drain()
	l.receiver.Detach()
}

// Append writes a's records and queues them for the committer, or, under
// a sync mode other than SyncAlways with nothing queued, commits them at
// once. A duplicate is queued the same way, behind its original, so that
// it is answered once the original has committed.
func (l *Log) Append(a *service.Append) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.Err(); err != nil {
		return err
	}
	if l.closed {
		return fmt.Errorf("%w: log is closed", service.ErrUnavailable)
	}
	// One timestamp decides the id's fate and stamps the records, so
	// that the decision can be made again from the log's contents. It is
	// the segment log's, which never goes back.
	now := l.seg.Now()
	if a.ID != "" {
		// Retention raises the low-water mark on the segment log, which
		// the table does not hear of: the ids below it go here, as a
		// truncate's do, so that a retry is decided as after a restart.
		if low, err := l.seg.LowestOffset(); err == nil {
			l.ids.ForgetBelow(low)
		}
		if s, ok := l.ids.Lookup(a.ID, now); ok {
			a.First, a.Last, a.Duplicate = s.First, s.Last, true
			l.accept(a)
			return nil
		}
	}
	before := l.seg.NextOffset()
	if a.ExpectedOffset != nil && *a.ExpectedOffset != before {
		return &service.ConflictError{Expected: *a.ExpectedOffset, NextOffset: before}
	}
	if err := l.write(a, before, now); err != nil {
		return err
	}
	l.accept(a)
	return nil
}

// write appends a's records to the segment log at before, its next
// offset, stamped with a's id and the timestamp now, and remembers the id.
func (l *Log) write(a *service.Append, before uint64, now int64) error {
	for _, r := range a.Records {
		if r.Timestamp == 0 {
			r.Timestamp = now
		}
	}
	// The id is stored as headers of the first record, added as it is
	// encoded rather than into its header map.
	var stamp []messages.Header
	if a.ID != "" {
		stamp = dedup.StampHeaders(l.stamp[:0], a.ID, len(a.Records))
	}
	first, err := l.seg.AppendUnsyncedStamped(a.Records, stamp)
	if err != nil {
		if after := l.seg.NextOffset(); after != before {
			// Records of a failed append are in the log; committing
			// later appends would expose them.
			l.failure.Fail(fmt.Errorf("append failed after writing offsets %d to %d: %w", before, after-1, err))
		} else if errors.Is(err, segment.ErrFailed) {
			// A sync the segment log ran on its own (sealing a
			// segment, or the interval syncer) failed: it refuses
			// appends for good, so say so rather than fail each one.
			l.failure.Fail(err)
		}
		return service.SegmentError(err)
	}
	a.First, a.Last = first, first+uint64(len(a.Records))-1
	if a.ID != "" {
		l.ids.Add(a.ID, dedup.Span{First: a.First, Last: a.Last}, a.Records[0].Timestamp)
	}
	l.noteRoll()
	return nil
}

// accept commits a at once or queues it for the committer.
func (l *Log) accept(a *service.Append) {
	if (l.mode != segment.SyncAlways || a.Duplicate) && l.c.idle() {
		// Nothing to sync and nothing ahead of it: commit here and
		// save the hand-over. Under SyncAlways the committer must
		// sync, so that appends arriving meanwhile share the sync;
		// a duplicate with nothing ahead of it has nothing to sync.
		l.inline[0] = a
		l.commit(l.inline[:])
		l.inline[0] = nil
		return
	}
	l.c.enqueue(a)
}

// commit commits one batch of contiguous appends, on the committer's
// goroutine or inline under mu, never both at once.
func (l *Log) commit(batch []*service.Append) {
	if err := l.Err(); err != nil {
		l.deliver(service.Commit{Appends: batch, Err: err})
		return
	}
	c, ok := committedRange(batch)
	if !ok {
		// Duplicates only: what they answer with committed before.
		l.deliver(c)
		return
	}
	if l.mode == segment.SyncAlways {
		start := time.Now()
		err := l.seg.Sync()
		c.Synced, c.SyncDuration = true, time.Since(start)
		if err != nil {
			l.failure.Fail(fmt.Errorf("%w: %w: %w", service.ErrLogFailed, service.ErrSyncFailed, err))
			c.First, c.Last, c.Err = 0, 0, l.Err()
			l.deliver(c)
			return
		}
	}
	// Visible to readers before anyone is told, so that a client that
	// got its reply or the notification can read the records at once.
	l.committed.Store(c.Last + 1)
	l.changedMu.Lock()
	if l.watched {
		close(l.changed)
		l.changed, l.watched = make(chan struct{}), false
	}
	l.changedMu.Unlock()
	l.deliver(c)
}

// committedRange returns the Commit of batch, bounded by the appends that
// wrote records, or an Empty one and false when all are duplicates. The
// appends that wrote records are contiguous; the duplicates among them
// answer with offsets below.
func committedRange(batch []*service.Append) (service.Commit, bool) {
	c := service.Commit{Appends: batch}
	found := false
	for _, a := range batch {
		if a.Duplicate {
			continue
		}
		if !found {
			c.First, found = a.First, true
		}
		c.Last = a.Last
	}
	c.Empty = !found
	return c, found
}

func (l *Log) deliver(c service.Commit) {
	l.receiver.Deliver(c)
}

// CommittedOffset returns the offset after the last committed record.
func (l *Log) CommittedOffset() uint64 { return l.committed.Load() }

// CommitChanged returns a channel closed when the committed offset next
// moves.
func (l *Log) CommitChanged() <-chan struct{} {
	l.changedMu.Lock()
	defer l.changedMu.Unlock()
	l.watched = true
	return l.changed
}

// ReadRawBatch reads stored records as segment.Log.ReadRawBatch does. It
// does not stop at the committed offset: the caller bounds maxRecords.
func (l *Log) ReadRawBatch(offset uint64, maxRecords, maxBytes int, dst []byte) (segment.RawBatch, error) {
	b, err := l.seg.ReadRawBatch(offset, maxRecords, maxBytes, dst)
	if err != nil {
		return b, service.SegmentError(err)
	}
	return b, nil
}

// TruncateFront raises the segment log's low-water mark to lowest, so that
// records below it read as out of range at once, and returns the lowest
// offset, which Stats reports too.
func (l *Log) TruncateFront(lowest uint64) (uint64, error) {
	if err := l.seg.TruncateFront(lowest); err != nil {
		return 0, service.SegmentError(err)
	}
	low, err := l.seg.LowestOffset()
	if err != nil {
		return 0, fmt.Errorf("lowest offset: %w", service.SegmentError(err))
	}
	// The ids of the records truncated away go with them, as a restart,
	// which rebuilds the table from the records left, would have it.
	l.mu.Lock()
	l.ids.ForgetBelow(low)
	l.mu.Unlock()
	return low, nil
}

// Stats describes the segment log.
func (l *Log) Stats() service.LogStats {
	st := l.seg.Stats()
	return service.LogStats{
		Segments: st.Segments, Bytes: st.Bytes, LowestOffset: st.LowestOffset, NextOffset: st.NextOffset,
		DedupIDs: l.ids.Len(),
	}
}

// Recovered reports what opening the segment log repaired.
func (l *Log) Recovered() []segment.Recovery { return l.seg.Recovered() }

// ID returns the segment log's id, fixed when its directory was created.
func (l *Log) ID() [16]byte { return l.seg.ID() }

// Failed is closed once the Log has failed; Err then says why.
func (l *Log) Failed() <-chan struct{} { return l.failure.Failed() }

// Err returns the failure that closed Failed, or nil.
func (l *Log) Err() error { return l.failure.Err() }

// Close commits what is queued, stops the committer and the saver, and
// saves the table of append ids for the next New. Appends then get ErrUnavailable. It does
// not close the segment log. Close is idempotent.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.c.close()
		l.stopSaver()
		l.mu.Lock()
		defer l.mu.Unlock()
		saveIDs(l.seg, l.ids, l.Err(), l.logger)
	})
	return nil
}
