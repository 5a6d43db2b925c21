package segment

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/evlog/evlog/messages"
)

// Log is an append-only sequence of records stored in segments in one
// directory. It is safe for concurrent use: reads run in parallel with each
// other and wait only for the memory writes of an append, never for a sync.
type Log struct {
	dir    string
	config Config

	// mu guards the fields below it. Lock order: mu before syncMu.
	mu       sync.RWMutex
	segments []*segment
	meta     meta // meta.low is the low-water mark, never below segments[0].base
	closed   bool
	scratch  messages.Record // the record being encoded, so that it need not escape
	frames   []byte          // scratch for a batch's frames
	ends     []int           // scratch: end of each frame in frames
	// newest remembers the time of each sealed segment's last record, by
	// base, for the retention policy (retention.go).
	newest map[uint64]time.Time
	// lastTS is the newest record's timestamp, below which no timestamp
	// is assigned.
	lastTS int64

	// syncMu guards the group-commit state. A Sync caller that finds no
	// sync running becomes the leader: it syncs everything written so far
	// while later callers wait for the following round, so one fdatasync
	// serves every append that completed before it started.
	syncMu   sync.Mutex
	syncCond *sync.Cond
	syncing  bool
	synced   uint64 // every offset below is durable
	syncErr  error  // sticky: after a failed sync nothing more is acknowledged

	// damage holds the damaged records reported to Config.OnDamage. Its
	// lock is a leaf, taken after every read lock is released.
	damage damageSeen

	recovered []Recovery
	lock      *os.File      // holds the directory's lock until Close
	stop      chan struct{} // closed by Close to stop the interval syncer
	done      chan struct{} // closed when the interval syncer has returned
	closeOnce sync.Once
}

func (l *Log) active() *segment { return l.segments[len(l.segments)-1] }

// Recovered reports the segments NewLog found damaged or not cleanly closed
// and what it did about them. It is empty after a clean shutdown.
func (l *Log) Recovered() []Recovery { return slices.Clone(l.recovered) }

// LowestOffset returns the low-water mark: the offset of the oldest record
// that reads, which TruncateFront raises. On an empty log it returns the
// offset the next record will get.
func (l *Log) LowestOffset() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	return l.meta.low, nil
}

// ID returns the log's id, fixed when its directory was created (or
// upgraded from format version 1). It does not change, not even at Close.
func (l *Log) ID() LogID {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.meta.id
}

// HighestOffset returns the offset of the newest record, or ErrEmpty when
// the log holds none (when it is new, or truncated up to its end).
func (l *Log) HighestOffset() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	next := l.active().next()
	if next == l.meta.low {
		return 0, ErrEmpty
	}
	return next - 1, nil
}

// NextOffset returns the offset the next appended record will get. It is 0
// after Close.
func (l *Log) NextOffset() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0
	}
	return l.active().next()
}

// ActiveBase returns the base offset of the active segment, which changes
// each time the log rolls to a new segment.
func (l *Log) ActiveBase() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0
	}
	return l.active().base
}

// Stats summarises the log.
type Stats struct {
	// Segments is the number of segments, the active one included.
	Segments int
	// Bytes is the total size of the stores.
	Bytes uint64
	// LowestOffset is the offset of the oldest record (see Log.LowestOffset).
	LowestOffset uint64
	// NextOffset is the offset the next record will get.
	NextOffset uint64
}

// Stats returns a summary of the log, all of it from one moment.
func (l *Log) Stats() Stats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return Stats{}
	}
	st := Stats{Segments: len(l.segments), LowestOffset: l.meta.low, NextOffset: l.active().next()}
	for _, s := range l.segments {
		st.Bytes += s.store.size
	}
	return st
}

// Dir returns the directory the log lives in.
func (l *Log) Dir() string { return filepath.Clean(l.dir) }

// SyncMode returns the sync mode the log was opened with, so that a server
// committing on the log's behalf follows the same policy.
func (l *Log) SyncMode() SyncMode { return l.config.Sync.Mode }
