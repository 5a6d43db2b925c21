package dedup

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkTable is what the log asks of the table for each append with a
// new id, once the table is full: a lookup that misses and an add that
// evicts the oldest id.
func BenchmarkTable(b *testing.B) {
	const maxIDs = DefaultMaxIDs
	tb, err := New(Config{Window: time.Hour, MaxIDs: maxIDs})
	if err != nil {
		b.Fatal(err)
	}
	// Made before timing, more than the table holds, so that each one is
	// new again when the loop comes back to it.
	ids := make([]string, 3*maxIDs)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%016x", i)
	}
	for i, id := range ids[:maxIDs] {
		tb.Add(id, Span{First: uint64(i), Last: uint64(i)}, int64(i))
	}
	b.ReportAllocs()
	for i := maxIDs; b.Loop(); i++ {
		id := ids[i%len(ids)]
		if _, ok := tb.Lookup(id, int64(i)); ok {
			b.Fatalf("id %s found", id)
		}
		tb.Add(id, Span{First: uint64(i), Last: uint64(i)}, int64(i))
	}
}
