package dedup

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
)

const sec = int64(time.Second)

func newTable(t *testing.T, cfg Config) *Table {
	t.Helper()
	tb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestTableRemembersWithinWindow(t *testing.T) {
	tb := newTable(t, Config{Window: 10 * time.Second})
	tb.Add("a", Span{First: 3, Last: 5}, 100*sec)
	if s, ok := tb.Lookup("a", 110*sec); !ok || s != (Span{First: 3, Last: 5}) {
		t.Fatalf("at the window's edge: %+v %v", s, ok)
	}
	if _, ok := tb.Lookup("b", 110*sec); ok {
		t.Fatal("unknown id found")
	}
	// The first append with an id is the one duplicates answer with.
	tb.Add("a", Span{First: 9, Last: 9}, 105*sec)
	if s, _ := tb.Lookup("a", 105*sec); s.First != 3 {
		t.Fatalf("re-added id moved to %+v", s)
	}
}

func TestTableExpiresAfterWindow(t *testing.T) {
	tb := newTable(t, Config{Window: 10 * time.Second})
	tb.Add("old", Span{First: 0, Last: 0}, 100*sec)
	tb.Add("new", Span{First: 1, Last: 1}, 105*sec)
	if _, ok := tb.Lookup("old", 110*sec+1); ok {
		t.Fatal("id older than the window still found")
	}
	if _, ok := tb.Lookup("new", 110*sec+1); !ok {
		t.Fatal("id within the window forgotten")
	}
	if tb.Len() != 1 {
		t.Fatalf("Len %d after expiry, want 1", tb.Len())
	}
	// Forgotten means new: it can be added again with new offsets.
	tb.Add("old", Span{First: 2, Last: 2}, 111*sec)
	if s, ok := tb.Lookup("old", 111*sec); !ok || s.First != 2 {
		t.Fatalf("re-added expired id: %+v %v", s, ok)
	}
}

func TestTableEvictsOldestAtBound(t *testing.T) {
	tb := newTable(t, Config{Window: time.Hour, MaxIDs: 3})
	for i := range 5 {
		tb.Add(fmt.Sprint(i), Span{First: uint64(i), Last: uint64(i)}, 100*sec+int64(i))
	}
	if tb.Len() != 3 {
		t.Fatalf("Len %d, want the bound 3", tb.Len())
	}
	for i := range 5 {
		_, ok := tb.Lookup(fmt.Sprint(i), 101*sec)
		if want := i >= 2; ok != want {
			t.Errorf("id %d remembered %v, want %v", i, ok, want)
		}
	}
}

// TestTableForgetBelow: a truncate to an offset forgets the ids whose
// first record it removed, a batch it cut through included, and keeps the
// others.
func TestTableForgetBelow(t *testing.T) {
	tb := newTable(t, Config{Window: time.Hour})
	tb.Add("a", Span{First: 0, Last: 1}, 100*sec)
	tb.Add("b", Span{First: 2, Last: 4}, 101*sec)
	tb.Add("c", Span{First: 5, Last: 5}, 102*sec)
	tb.ForgetBelow(3)
	for id, want := range map[string]bool{"a": false, "b": false, "c": true} {
		if _, ok := tb.Lookup(id, 103*sec); ok != want {
			t.Errorf("id %s remembered %v after ForgetBelow(3), want %v", id, ok, want)
		}
	}
	if tb.Len() != 1 {
		t.Fatalf("Len %d, want 1", tb.Len())
	}
	tb.ForgetBelow(99)
	if tb.Len() != 0 {
		t.Fatalf("Len %d after forgetting everything, want 0", tb.Len())
	}
	// The table goes on: a forgotten id is new again.
	tb.Add("a", Span{First: 6, Last: 6}, 104*sec)
	if s, ok := tb.Lookup("a", 104*sec); !ok || s.First != 6 {
		t.Fatalf("re-added forgotten id: %+v %v", s, ok)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{{Window: -1}, {MaxIDs: -1}, {MaxIDs: maxMaxIDs + 1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestStampAndObserve(t *testing.T) {
	one := []*messages.Record{{Value: []byte("a"), Offset: 7, Timestamp: 100 * sec}}
	three := []*messages.Record{{Value: []byte("a"), Headers: map[string]string{"k": "v"}}, {}, {}}
	Stamp(one, "id-1")
	Stamp(three, "id-3")
	three[0].Offset, three[0].Timestamp = 8, 100*sec
	if _, has := one[0].Headers[messages.BatchRecordsHeader]; has {
		t.Error("a batch of one record got a length header")
	}
	if three[0].Headers["k"] != "v" || three[0].Headers[messages.BatchRecordsHeader] != "3" {
		t.Errorf("headers %v", three[0].Headers)
	}
	tb := newTable(t, Config{})
	for _, r := range []*messages.Record{one[0], three[0], {Offset: 11, Timestamp: 100 * sec}} {
		if err := tb.Observe(r); err != nil {
			t.Fatal(err)
		}
	}
	if s, ok := tb.Lookup("id-1", 100*sec); !ok || s != (Span{First: 7, Last: 7}) {
		t.Errorf("id-1: %+v %v", s, ok)
	}
	if s, ok := tb.Lookup("id-3", 100*sec); !ok || s != (Span{First: 8, Last: 10}) {
		t.Errorf("id-3: %+v %v", s, ok)
	}
	if tb.Len() != 2 {
		t.Errorf("Len %d, want 2", tb.Len())
	}
	bad := &messages.Record{Headers: map[string]string{messages.IDHeader: "x", messages.BatchRecordsHeader: "zero"}}
	if err := tb.Observe(bad); err == nil {
		t.Error("unreadable batch length accepted")
	}
}

func TestStampBytesBoundsGrowth(t *testing.T) {
	for _, tc := range []struct {
		headers map[string]string
		n       int
		id      string
	}{
		{nil, 1, "x"},
		{nil, 1000, string(make([]byte, messages.MaxIDLen))},
		{map[string]string{"a": "b"}, 2, "some-uuid-0000"},
	} {
		recs := make([]*messages.Record, tc.n)
		for i := range recs {
			recs[i] = &messages.Record{Value: []byte("v")}
		}
		recs[0].Headers = tc.headers
		before, _ := messages.Marshal(recs[0])
		hadHeaders := len(tc.headers) > 0
		Stamp(recs, tc.id)
		after, _ := messages.Marshal(recs[0])
		if grow := len(after) - len(before); grow > StampBytes(tc.id, hadHeaders) {
			t.Errorf("stamp grew the record by %d bytes, StampBytes says %d", grow, StampBytes(tc.id, hadHeaders))
		}
	}
}

// TestTableMemory floods a table with unique ids, far more than its bound,
// and checks that its heap stays within the bound's worth of entries at
// the points of the flood it samples; it logs the largest measured cost
// per id, the figure behind EntryBytes. The bounds are the default and
// the worst one, just past a power of two, where the ring and the index
// are twice the size the bound needs.
func TestTableMemory(t *testing.T) {
	for _, maxIDs := range []int{DefaultMaxIDs, 1<<15 + 1} {
		t.Run(fmt.Sprint(maxIDs), func(t *testing.T) { testTableMemory(t, maxIDs) })
	}
}

func testTableMemory(t *testing.T, maxIDs int) {
	const flood = 300_000
	const idLen = 36 // a UUID
	before := heap()
	tb := newTable(t, Config{Window: time.Hour, MaxIDs: maxIDs})
	var most uint64
	for i := range flood {
		tb.Add(fmt.Sprintf("%036d", i), Span{First: uint64(i), Last: uint64(i)}, 100*sec)
		if i >= maxIDs && i%(maxIDs/4) == 0 {
			most = max(most, heap()-before)
		}
	}
	if tb.Len() != maxIDs {
		t.Fatalf("Len %d, want %d", tb.Len(), maxIDs)
	}
	per := float64(most) / float64(maxIDs)
	t.Logf("%d ids of %d bytes: at most %.0f bytes per id (%.0f besides the id)", maxIDs, idLen, per, per-idLen)
	if limit := float64(EntryBytes+idLen) * 1.5; per > limit {
		t.Errorf("%.0f bytes per id, more than %.0f", per, limit)
	}
	runtime.KeepAlive(tb)
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
