package segment

import (
	"errors"
	"fmt"
	"sync"
)

// DamageError is the error of a read that found a stored record damaged:
// its frame fails its checks, its index entry points outside the store, its
// bytes do not decode to the record of its offset, or it lies in the
// damaged tail of a sealed segment. It wraps an error that wraps
// ErrCorrupt, so errors.Is(err, ErrCorrupt) holds; errors.As finds the
// segment and offset, for a caller that reports where the damage is.
type DamageError struct {
	// Segment is the base offset of the segment holding the record, which
	// names its files.
	Segment uint64
	// Offset is the damaged record's offset.
	Offset uint64
	// Err says what is wrong with it.
	Err error
}

// Error names the offset first, as every read error does.
func (e *DamageError) Error() string {
	return fmt.Sprintf("read offset %d of segment %d: %v", e.Offset, e.Segment, e.Err)
}

// Unwrap returns Err, which wraps ErrCorrupt.
func (e *DamageError) Unwrap() error { return e.Err }

// damaged returns the DamageError of the record at offset of s.
func damaged(s *segment, offset uint64, err error) *DamageError {
	return &DamageError{Segment: s.base, Offset: offset, Err: err}
}

// maxDamageSeen bounds the damaged records a Log remembers having reported
// to Config.OnDamage. Past it the oldest is forgotten, so that a log damaged
// in many places costs a fixed amount of memory; a record forgotten that
// way is reported again if read again, which is noise, never silence.
const maxDamageSeen = 1024

// damageSeen is the set of damaged records already reported to
// Config.OnDamage, in the order they were reported, up to maxDamageSeen.
type damageSeen struct {
	// mu guards the fields below it. It is a leaf: taken with none of the
	// Log's other locks held, and nothing is called while it is held.
	mu    sync.Mutex
	seen  map[damageKey]struct{}
	order []damageKey // a ring of the keys in seen, the oldest at next
	next  int
}

type damageKey struct{ segment, offset uint64 }

// add records k and reports whether it is new.
func (d *damageSeen) add(k damageKey) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[k]; ok {
		return false
	}
	if d.seen == nil {
		d.seen = make(map[damageKey]struct{})
	}
	if len(d.order) < maxDamageSeen {
		d.order = append(d.order, k)
	} else {
		delete(d.seen, d.order[d.next])
		d.order[d.next] = k
		d.next = (d.next + 1) % maxDamageSeen
	}
	d.seen[k] = struct{}{}
	return true
}

// reportDamage hands the DamageError in err, if any, to Config.OnDamage
// unless that record was reported before. The caller holds none of the
// Log's locks.
func (l *Log) reportDamage(err error) {
	// The check comes first and apart from errors.As, whose target escapes
	// to the heap: a read that finds no damage must not allocate for it.
	if err == nil || l.config.OnDamage == nil {
		return
	}
	l.reportDamageOf(err)
}

func (l *Log) reportDamageOf(err error) {
	var d *DamageError
	if !errors.As(err, &d) || d == nil {
		return
	}
	if l.damage.add(damageKey{d.Segment, d.Offset}) {
		l.config.OnDamage(d)
	}
}
