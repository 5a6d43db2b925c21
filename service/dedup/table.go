package dedup

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	// DefaultWindow is how long an id is remembered, as in JetStream.
	DefaultWindow = 2 * time.Minute
	// DefaultMaxIDs bounds the table. An entry costs at most about
	// EntryBytes plus the id's length, so the default holds the table
	// under about 27 MiB with 128-byte ids, and about 18 MiB with 36-byte
	// UUIDs; at this bound it measures about 96 bytes plus the id.
	DefaultMaxIDs = 100_000
	// EntryBytes is the measured heap cost of one entry besides its id's
	// bytes, at its worst, for sizing MaxIDs: a bound just past a power
	// of two, where the ring of entries and the index are twice the size
	// the bound needs (TestTableMemory: about 140 bytes on go1.26, 96 at
	// DefaultMaxIDs).
	EntryBytes = 150
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
//
// The ids are numbered in the order they were added. The entries live in
// a ring by number, oldest first, so that expiry and eviction drop from
// its front; the index finding an id's entry is a hash table of its own,
// open addressing with linear probing, whose slots hold only the id's
// hash and number: it holds no pointers for the collector to scan, and a
// miss reads one run of adjacent slots and nothing else. Forgetting the
// oldest id does not touch the index, which would cost a read at random
// for every append: its slot is dead from then on, since its number is
// below first, and an insert reuses the first dead or free slot on its
// way. Once the live and dead slots fill three quarters of the index, it
// is rebuilt from the ring at once. The hash only finds candidates: an
// id matches only a live entry holding the same id, so that decisions
// never depend on it.
type Table struct {
	window int64 // nanoseconds
	maxIDs int
	seed   maphash.Seed
	// ring holds the entry numbered n at ring[n&(len(ring)-1)], for n
	// from first, the oldest remembered id, to next, the number the next
	// id gets. Its length is a power of two, at least next-first.
	ring        []entry
	first, next uint64
	// slots is the index, a power of two of them, twice the ring's
	// length; used counts those not free, live or dead.
	slots []slot
	used  int
	// missed is the id of the last Lookup and its hash, when it was not
	// found and nothing was added since: the Add that follows the Lookup
	// of a new id then neither hashes it nor looks for it again.
	missed     string
	missedHash uint32
	missedOK   bool
	// size mirrors next-first for Len, which any goroutine may call.
	size atomic.Int64
}

// entry is one remembered id.
type entry struct {
	id   string
	hash uint32 // slotHash of the id's
	ts   int64
	span Span
}

// slot is an index slot: the low 32 bits of the number of an entry and
// 32 bits of the hash of its id, the top one set, so that a slot of hash
// 0 is free. Eight bytes a slot keep more of the index in the caches.
// The remembered ids are fewer than 2^32, so the low bits of their
// numbers tell them apart.
type slot struct {
	hash, n uint32
}

// maxMaxIDs is the largest bound: the slots' hashes have 31 bits to find
// a slot with, and there are up to four slots an id.
const maxMaxIDs = 1 << 29

// slotHash is the hash an index slot holds for the hash h of an id.
func slotHash(h uint64) uint32 { return uint32(h) | 1<<31 }

// minSlots is the index's smallest size, and twice the ring's.
const minSlots = 64

// New returns an empty table.
func New(cfg Config) (*Table, error) {
	if cfg.Window < 0 || cfg.MaxIDs < 0 {
		return nil, fmt.Errorf("%w: window %v and max ids %d must not be negative", ErrConfig, cfg.Window, cfg.MaxIDs)
	}
	if cfg.MaxIDs > maxMaxIDs {
		return nil, fmt.Errorf("%w: max ids %d is more than %d", ErrConfig, cfg.MaxIDs, maxMaxIDs)
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxIDs == 0 {
		cfg.MaxIDs = DefaultMaxIDs
	}
	return &Table{
		window: int64(cfg.Window), maxIDs: cfg.MaxIDs, seed: maphash.MakeSeed(),
		ring: make([]entry, minSlots/2), first: 1, next: 1, slots: make([]slot, minSlots),
	}, nil
}

// Lookup returns where the append with id went, if it is remembered at
// now, the timestamp (unix nanoseconds) the append being decided gets.
// It forgets the ids that are too old at now.
func (t *Table) Lookup(id string, now int64) (Span, bool) {
	t.expire(now)
	h := slotHash(maphash.String(t.seed, id))
	e := t.find(id, h)
	if e == nil {
		// Forgetting more ids, as Lookups do, cannot make it found.
		t.missed, t.missedHash, t.missedOK = id, h, true
		return Span{}, false
	}
	return e.span, true
}

// Find is Lookup without forgetting anything: it returns where the append
// with id went if it is remembered and its timestamp is within the window
// at now. The table then stays a function of what was added and forgotten
// below an offset, whatever the timestamps of the lookups, which a
// replicated log needs: a lookup whose timestamp no record stores (an
// entry of duplicates only) must not change what a replica rebuilt from
// the records would hold.
func (t *Table) Find(id string, now int64) (Span, bool) {
	e := t.find(id, slotHash(maphash.String(t.seed, id)))
	if e == nil || e.ts < now-t.window {
		return Span{}, false
	}
	return e.span, true
}

// Add remembers that the append with id, whose first record has the
// timestamp ts, went to s. It first forgets the ids too old at ts, so that
// an id older than the window is added anew. An id still remembered keeps
// its first span: the first append with an id is the one its duplicates
// answer with.
func (t *Table) Add(id string, s Span, ts int64) {
	t.expire(ts)
	var h uint32
	if t.missedOK && id == t.missed {
		h = t.missedHash
	} else if h = slotHash(maphash.String(t.seed, id)); t.find(id, h) != nil {
		return
	}
	t.missed, t.missedOK = "", false
	if t.next-t.first == uint64(len(t.ring)) {
		t.grow()
	}
	// Indexed before it is numbered, so that a rebuild of the index on
	// the way does not index it too.
	t.ring[t.next&uint64(len(t.ring)-1)] = entry{id: id, hash: h, ts: ts, span: s}
	t.insert(slot{hash: h, n: uint32(t.next)})
	t.next++
	for t.next-t.first > uint64(t.maxIDs) {
		t.drop()
	}
	t.size.Store(int64(t.next - t.first))
}

// ForgetBelow forgets the ids of the appends whose first record is below
// offset, as a log truncated to offset must: the record stamped with such
// an id is gone, so a table rebuilt from the log (Observe) would not know
// it, and a log that kept it would decide a retry otherwise than one that
// restarted. A retry of a forgotten id is a new append. It relies on the
// ids having been added in offset order, as a log adds and observes them.
func (t *Table) ForgetBelow(offset uint64) {
	for t.first < t.next && t.oldest().span.First < offset {
		t.drop()
	}
	t.size.Store(int64(t.next - t.first))
}

// Len returns how many ids are remembered. It may be called from any
// goroutine.
func (t *Table) Len() int { return int(t.size.Load()) }

// expire forgets the ids older than the window at now.
func (t *Table) expire(now int64) {
	oldest := now - t.window
	dropped := false
	for t.first < t.next && t.oldest().ts < oldest {
		t.drop()
		dropped = true
	}
	if dropped {
		t.size.Store(int64(t.next - t.first))
	}
}

// oldest returns the entry of the oldest remembered id.
func (t *Table) oldest() *entry { return &t.ring[t.first&uint64(len(t.ring)-1)] }

// drop forgets the oldest id. Its slot is dead from now on.
func (t *Table) drop() {
	*t.oldest() = entry{}
	t.first++
}

// live says whether a slot's number n is that of a remembered id. The
// remembered ids are fewer than 2^32, and their numbers' low bits, from
// first's on, come before those of every forgotten one but those
// forgotten 2^32 ids ago or more, which find tells apart by their ids.
func (t *Table) live(n uint32) bool { return n-uint32(t.first) < uint32(t.next-t.first) }

// find returns the entry of id, whose slot hash is h, or nil.
func (t *Table) find(id string, h uint32) *entry {
	mask := uint32(len(t.slots) - 1)
	for i := h & mask; t.slots[i].hash != 0; i = (i + 1) & mask {
		if s := t.slots[i]; s.hash == h && t.live(s.n) {
			// The ring is at most 2^32 long, so the number's low
			// bits place its entry.
			if e := &t.ring[s.n&uint32(len(t.ring)-1)]; e.id == id {
				return e
			}
		}
	}
	return nil
}

// insert puts s in the first free or dead slot from its hash on,
// rebuilding the index first if it is too full.
func (t *Table) insert(s slot) {
	if 4*(t.used+1) > 3*len(t.slots) {
		t.rebuild(len(t.slots))
	}
	mask := uint32(len(t.slots) - 1)
	i := s.hash & mask
	for t.slots[i].hash != 0 && t.live(t.slots[i].n) {
		i = (i + 1) & mask
	}
	if t.slots[i].hash == 0 {
		t.used++
	}
	t.slots[i] = s
}

// rebuild makes the index anew with size slots, from the live entries.
func (t *Table) rebuild(size int) {
	if size == len(t.slots) {
		clear(t.slots)
	} else {
		t.slots = make([]slot, size)
	}
	t.used = 0
	mask := uint32(size - 1)
	for n := t.first; n < t.next; n++ {
		h := t.ring[n&uint64(len(t.ring)-1)].hash
		i := h & mask
		for t.slots[i].hash != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = slot{hash: h, n: uint32(n)}
		t.used++
	}
}

// grow doubles the ring, and the index with it, so that at most half the
// index's slots are live.
func (t *Table) grow() {
	ring := make([]entry, 2*len(t.ring))
	for n := t.first; n < t.next; n++ {
		ring[n&uint64(len(ring)-1)] = t.ring[n&uint64(len(t.ring)-1)]
	}
	t.ring = ring
	t.rebuild(2 * len(ring))
}

// Window returns how long an id is remembered.
func (t *Table) Window() time.Duration { return time.Duration(t.window) }
