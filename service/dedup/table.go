package dedup

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	// DefaultWindow is how long an id is remembered, as in JetStream.
	DefaultWindow = 2 * time.Minute
	// DefaultMaxIDs bounds the table. An entry costs about EntryBytes
	// plus the id's length, so the default holds the table under about
	// 30 MiB with 128-byte ids, and about 21 MiB with 36-byte UUIDs.
	DefaultMaxIDs = 100_000
	// EntryBytes is the measured heap cost of one entry besides its id's
	// bytes (TestTableMemory: about 172 bytes on go1.26, the map's share
	// and the FIFO's, with its slack, included), for sizing MaxIDs.
	EntryBytes = 180
)

// Config configures a Table. The zero value of each field means its
// default.
type Config struct {
	// Window is how long an id is remembered, measured between record
	// timestamps. Default DefaultWindow.
	Window time.Duration
	// MaxIDs bounds how many ids are remembered; the oldest is evicted
	// first. Default DefaultMaxIDs.
	MaxIDs int
}

// ErrConfig is returned by New for a negative window or bound.
var ErrConfig = errors.New("invalid dedup config")

// Span is where an acknowledged append went: the offsets of its first and
// last record.
type Span struct {
	First, Last uint64
}

// Table remembers recent append ids and where their records went. Create
// it with New.
type Table struct {
	window int64 // nanoseconds
	maxIDs int
	spans  map[string]Span
	// fifo holds the ids in the order they were added, oldest from head
	// on, so that expiry and eviction drop from the front. Entries before
	// head are dropped ones, reclaimed by compact.
	fifo []added
	head int
	// size mirrors len(spans) for Len, which any goroutine may call.
	size atomic.Int64
}

type added struct {
	id string
	ts int64
}

// New returns an empty table.
func New(cfg Config) (*Table, error) {
	if cfg.Window < 0 || cfg.MaxIDs < 0 {
		return nil, fmt.Errorf("%w: window %v and max ids %d must not be negative", ErrConfig, cfg.Window, cfg.MaxIDs)
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxIDs == 0 {
		cfg.MaxIDs = DefaultMaxIDs
	}
	return &Table{window: int64(cfg.Window), maxIDs: cfg.MaxIDs, spans: make(map[string]Span)}, nil
}

// Lookup returns where the append with id went, if it is remembered at
// now, the timestamp (unix nanoseconds) the append being decided gets.
// It forgets the ids that are too old at now.
func (t *Table) Lookup(id string, now int64) (Span, bool) {
	t.expire(now)
	s, ok := t.spans[id]
	return s, ok
}

// Add remembers that the append with id, whose first record has the
// timestamp ts, went to s. An id already remembered keeps its first span:
// the first append with an id is the one its duplicates answer with.
func (t *Table) Add(id string, s Span, ts int64) {
	if _, ok := t.spans[id]; ok {
		return
	}
	t.expire(ts)
	t.spans[id] = s
	t.fifo = append(t.fifo, added{id: id, ts: ts})
	for len(t.spans) > t.maxIDs {
		t.drop()
	}
	t.size.Store(int64(len(t.spans)))
}

// ForgetBelow forgets the ids of the appends whose first record is below
// offset, as a log truncated to offset must: the record stamped with such
// an id is gone, so a table rebuilt from the log (Observe) would not know
// it, and a log that kept it would decide a retry otherwise than one that
// restarted. A retry of a forgotten id is a new append. It relies on the
// ids having been added in offset order, as a log adds and observes them.
func (t *Table) ForgetBelow(offset uint64) {
	n := len(t.spans)
	for t.head < len(t.fifo) && t.spans[t.fifo[t.head].id].First < offset {
		t.drop()
	}
	if len(t.spans) != n {
		t.size.Store(int64(len(t.spans)))
	}
}

// Len returns how many ids are remembered. It may be called from any
// goroutine.
func (t *Table) Len() int { return int(t.size.Load()) }

// expire forgets the ids older than the window at now.
func (t *Table) expire(now int64) {
	oldest := now - t.window
	n := len(t.spans)
	for t.head < len(t.fifo) && t.fifo[t.head].ts < oldest {
		t.drop()
	}
	if len(t.spans) != n {
		t.size.Store(int64(len(t.spans)))
	}
}

// drop forgets the oldest id.
func (t *Table) drop() {
	delete(t.spans, t.fifo[t.head].id)
	t.fifo[t.head] = added{}
	t.head++
	t.compact()
}

// compact moves the live ids to the front of fifo once the dropped ones
// are half of it, so that its backing array stays within twice the
// table's size.
func (t *Table) compact() {
	if t.head < 1024 || t.head < len(t.fifo)/2 {
		return
	}
	n := copy(t.fifo, t.fifo[t.head:])
	clear(t.fifo[n:])
	t.fifo, t.head = t.fifo[:n], 0
}

// Window returns how long an id is remembered.
func (t *Table) Window() time.Duration { return time.Duration(t.window) }
