package dedup

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// model is the table's contract in its plainest form: a map of the
// remembered ids and the ids in the order they were added, the oldest
// forgotten first by deleting it. Table must decide every lookup as it
// does.
type model struct {
	window int64
	maxIDs int
	spans  map[string]Span
	fifo   []modelEntry
}

type modelEntry struct {
	id string
	ts int64
}

func (m *model) expire(now int64) {
	for len(m.fifo) > 0 && m.fifo[0].ts < now-m.window {
		delete(m.spans, m.fifo[0].id)
		m.fifo = m.fifo[1:]
	}
}

func (m *model) lookup(id string, now int64) (Span, bool) {
	m.expire(now)
	s, ok := m.spans[id]
	return s, ok
}

func (m *model) add(id string, s Span, ts int64) {
	m.expire(ts)
	if _, ok := m.spans[id]; ok {
		return
	}
	m.spans[id] = s
	m.fifo = append(m.fifo, modelEntry{id: id, ts: ts})
	for len(m.spans) > m.maxIDs {
		delete(m.spans, m.fifo[0].id)
		m.fifo = m.fifo[1:]
	}
}

// TestTableMatchesModel drives a table and the model with the same random
// adds and lookups, with ids drawn from a small set so that they repeat,
// expire, are evicted and come back, timestamps that mostly advance but
// sometimes step back, and bounds small and large enough to pass the
// index's rebuild threshold many times.
func TestTableMatchesModel(t *testing.T) {
	for _, tc := range []struct {
		maxIDs, ids, ops int
		// start is the number of the first id, past 1 to check that
		// the index's 32 bits of each number wrap around safely.
		start uint64
	}{
		{maxIDs: 3, ids: 10, ops: 20_000},
		{maxIDs: 100, ids: 300, ops: 50_000},
		{maxIDs: 2000, ids: 5000, ops: 100_000},
		{maxIDs: 5000, ids: 3000, ops: 100_000},
		{maxIDs: 2000, ids: 5000, ops: 100_000, start: 1<<32 - 20_000},
	} {
		t.Run(fmt.Sprintf("max=%d/ids=%d/start=%d", tc.maxIDs, tc.ids, tc.start), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.maxIDs), uint64(tc.ids)))
			window := 50 * time.Millisecond
			tb := newTable(t, Config{Window: window, MaxIDs: tc.maxIDs})
			if tc.start != 0 {
				tb.first, tb.next = tc.start, tc.start
			}
			m := &model{window: int64(window), maxIDs: tc.maxIDs, spans: map[string]Span{}}
			ts := int64(1000 * sec)
			for op := range tc.ops {
				// Mostly forward, by up to a tenth of the window on
				// average; now and then back, as a replica's clock may.
				ts += rng.Int64N(int64(window) / 5)
				if rng.IntN(50) == 0 {
					ts -= rng.Int64N(int64(window))
				}
				id := fmt.Sprint(rng.IntN(tc.ids))
				if rng.IntN(2) == 0 {
					got, gok := tb.Lookup(id, ts)
					want, wok := m.lookup(id, ts)
					if got != want || gok != wok {
						t.Fatalf("op %d: Lookup(%s, %d) = %+v %v, model %+v %v", op, id, ts, got, gok, want, wok)
					}
				} else {
					s := Span{First: uint64(op), Last: uint64(op + rng.IntN(3))}
					tb.Add(id, s, ts)
					m.add(id, s, ts)
				}
				if tb.Len() != len(m.spans) {
					t.Fatalf("op %d: Len %d, model %d", op, tb.Len(), len(m.spans))
				}
			}
		})
	}
}

// find is the model of Find: the id's span if it is remembered and young
// enough at now, forgetting nothing.
func (m *model) find(id string, now int64) (Span, bool) {
	for _, e := range m.fifo {
		if e.id == id {
			if e.ts < now-m.window {
				return Span{}, false
			}
			return m.spans[id], true
		}
	}
	return Span{}, false
}

// TestFindMatchesModel drives a table and the model with random adds and
// Finds, lookups that forget nothing, with timestamps that step back now
// and then, as the lookups of a replicated log's entries of duplicates
// only do; and checks that Finds leave the table as adds alone made it.
func TestFindMatchesModel(t *testing.T) {
	for _, maxIDs := range []int{3, 100, 2000} {
		t.Run(fmt.Sprintf("max=%d", maxIDs), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(maxIDs), 7))
			window := 50 * time.Millisecond
			tb := newTable(t, Config{Window: window, MaxIDs: maxIDs})
			m := &model{window: int64(window), maxIDs: maxIDs, spans: map[string]Span{}}
			addTS, ids := int64(1000*sec), 3*maxIDs
			for op := range 50_000 {
				id := fmt.Sprint(rng.IntN(ids))
				if rng.IntN(2) == 0 {
					// Lookups at any time around the adds', as
					// a later leader's clock may be ahead or behind.
					now := addTS + rng.Int64N(2*int64(window)) - int64(window)/2
					got, gok := tb.Find(id, now)
					want, wok := m.find(id, now)
					if got != want || gok != wok {
						t.Fatalf("op %d: Find(%s, %d) = %+v %v, model %+v %v", op, id, now, got, gok, want, wok)
					}
				} else {
					// Adds' timestamps never go back, as a log's.
					addTS += rng.Int64N(int64(window) / 5)
					s := Span{First: uint64(op), Last: uint64(op)}
					tb.Add(id, s, addTS)
					m.add(id, s, addTS)
				}
				if tb.Len() != len(m.spans) {
					t.Fatalf("op %d: Len %d, model %d", op, tb.Len(), len(m.spans))
				}
			}
		})
	}
}
