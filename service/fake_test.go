package service

import (
	"errors"
	"fmt"
	"sync"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// fakeLog is a Log in memory. By default it commits each append before
// Append returns; with hold set it keeps appends until release.
type fakeLog struct {
	// deliverMu serialises delivering, which happens outside mu, as a
	// real Log delivers, so that the CommitFunc may read the log. Lock
	// order: deliverMu before mu.
	deliverMu sync.Mutex
	mu        sync.Mutex
	fn        CommitFunc
	encoded   [][]byte // of the records from lowest on
	lowest    uint64
	committed uint64
	hold      bool
	held      []*Append
	appendErr error // returned by Append when set
	// damaged are the offsets whose records read as damaged.
	damaged map[uint64]bool
	changed chan struct{}
	failed  chan struct{}
	failErr error
	id      [16]byte
}

var _ Log = (*fakeLog)(nil)

func newFakeLog() *fakeLog {
	return &fakeLog{changed: make(chan struct{}), failed: make(chan struct{})}
}

func (f *fakeLog) Attach(fn CommitFunc) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fn != nil {
		return errors.New("attached twice")
	}
	f.fn = fn
	return nil
}

// Detach commits what is held, as a log that finishes its work would.
func (f *fakeLog) Detach() {
	f.release()
	f.deliverMu.Lock()
	defer f.deliverMu.Unlock()
	f.mu.Lock()
	f.fn = func(Commit) {}
	f.mu.Unlock()
}

func (f *fakeLog) Append(a *Append) error {
	f.deliverMu.Lock()
	defer f.deliverMu.Unlock()
	f.mu.Lock()
	err := f.appendLocked(a)
	var c Commit
	if err == nil && !f.hold {
		c = f.takeLocked()
	}
	fn := f.fn
	f.mu.Unlock()
	if len(c.Appends) > 0 {
		fn(c)
	}
	return err
}

func (f *fakeLog) appendLocked(a *Append) error {
	if f.failErr != nil {
		return f.failErr
	}
	if f.appendErr != nil {
		return f.appendErr
	}
	next := f.lowest + uint64(len(f.encoded))
	for i, r := range a.Records {
		r.Offset = next + uint64(i)
		r.Timestamp = fakeTimestamp(r.Offset)
		b, err := messages.Marshal(r)
		if err != nil {
			return err
		}
		f.encoded = append(f.encoded, b)
	}
	a.First, a.Last = next, next+uint64(len(a.Records))-1
	f.held = append(f.held, a)
	return nil
}

// release commits everything held in one group.
func (f *fakeLog) release() {
	f.deliverMu.Lock()
	defer f.deliverMu.Unlock()
	f.mu.Lock()
	c, fn := f.takeLocked(), f.fn
	f.mu.Unlock()
	if len(c.Appends) > 0 {
		fn(c)
	}
}

// takeLocked commits what is held and returns the Commit to deliver,
// with no appends when nothing is held.
func (f *fakeLog) takeLocked() Commit {
	if len(f.held) == 0 {
		return Commit{}
	}
	c := Commit{First: f.held[0].First, Last: f.held[len(f.held)-1].Last, Appends: f.held}
	f.held = nil
	f.committed = c.Last + 1
	close(f.changed)
	f.changed = make(chan struct{})
	return c
}

// fail fails the log and gives up what it holds.
func (f *fakeLog) fail(err error) {
	f.deliverMu.Lock()
	defer f.deliverMu.Unlock()
	f.mu.Lock()
	f.failErr = fmt.Errorf("%w: %w", ErrLogFailed, err)
	close(f.failed)
	held, fn, ferr := f.held, f.fn, f.failErr
	f.held = nil
	f.mu.Unlock()
	if len(held) > 0 {
		fn(Commit{Appends: held, Err: ferr})
	}
}

func (f *fakeLog) CommittedOffset() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.committed
}

func (f *fakeLog) CommitChanged() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fakeLog) ReadRawBatch(offset uint64, maxRecords, maxBytes int, dst []byte) (segment.RawBatch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := segment.RawBatch{Records: dst}
	if offset < f.lowest || offset >= f.lowest+uint64(len(f.encoded)) {
		return b, fmt.Errorf("%w: read %d", ErrOffsetOutOfRange, offset)
	}
	if f.damaged[offset] {
		return b, f.damage(offset)
	}
	size := 0
	for i, rec := range f.encoded[offset-f.lowest:] {
		off := offset + uint64(i)
		if b.N == maxRecords || size+len(rec) > maxBytes {
			break
		}
		if f.damaged[off] {
			b.Damage = f.damage(off)
			break
		}
		b.Records = append(b.Records, rec...)
		b.N, size = b.N+1, size+len(rec)
	}
	if b.N == 0 {
		return b, fmt.Errorf("%w: record %d", ErrTooLarge, offset)
	}
	return b, nil
}

// damage is the error of reading the damaged record at offset.
func (f *fakeLog) damage(offset uint64) *segment.DamageError {
	return &segment.DamageError{Offset: offset, Err: fmt.Errorf("%w: checksum mismatch", segment.ErrCorrupt)}
}

// fakeTimestamp is the timestamp the fake log gives the record at off:
// two records share each, 100 nanoseconds apart.
func fakeTimestamp(off uint64) int64 { return int64(off/2*100) + 1000 }

func (f *fakeLog) OffsetAtTime(ts int64) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	off := f.lowest
	for off < f.committed && fakeTimestamp(off) < ts {
		off++
	}
	return off, nil
}

func (f *fakeLog) TruncateFront(lowest uint64) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := f.lowest + uint64(len(f.encoded))
	if lowest > next {
		return 0, fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, lowest)
	}
	if lowest > f.lowest {
		f.encoded = f.encoded[lowest-f.lowest:]
		f.lowest = lowest
	}
	return f.lowest, nil
}

func (f *fakeLog) Stats() LogStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return LogStats{Segments: 1, Bytes: uint64(len(f.encoded)), LowestOffset: f.lowest, NextOffset: f.lowest + uint64(len(f.encoded))}
}

func (f *fakeLog) Recovered() []segment.Recovery { return nil }

func (f *fakeLog) ID() [16]byte { return f.id }

func (f *fakeLog) Failed() <-chan struct{} { return f.failed }

func (f *fakeLog) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failErr
}
