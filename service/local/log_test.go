package local

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
)

// open serves a fresh segment log in mode, closed with it when the test
// ends, and records the commits it delivers.
func open(t *testing.T, mode segment.SyncMode, c segment.Config) (*Log, *commits) {
	t.Helper()
	c.Sync.Mode = mode
	seg, err := segment.NewLog(t.TempDir(), c)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(seg, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		if err := seg.Close(); err != nil {
			t.Error(err)
		}
	})
	cs := &commits{}
	if err := l.Attach(cs.add); err != nil {
		t.Fatal(err)
	}
	return l, cs
}

type commits struct {
	mu  sync.Mutex
	all []service.Commit
}

func (c *commits) add(cm service.Commit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cm.Appends = append([]*service.Append(nil), cm.Appends...)
	c.all = append(c.all, cm)
}

func (c *commits) get() []service.Commit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]service.Commit(nil), c.all...)
}

func app(values ...string) *service.Append {
	a := &service.Append{}
	for _, v := range values {
		a.Records = append(a.Records, &messages.Record{Value: []byte(v)})
	}
	return a
}

// TestInlineCommit: under SyncNever an append with nothing queued is
// committed before Append returns, without a sync.
func TestInlineCommit(t *testing.T) {
	l, cs := open(t, segment.SyncNever, segment.Config{})
	if err := l.Append(app("a", "b")); err != nil {
		t.Fatal(err)
	}
	got := cs.get()
	if len(got) != 1 || got[0].First != 0 || got[0].Last != 1 || got[0].Synced || l.CommittedOffset() != 2 {
		t.Fatalf("commits %+v, committed %d", got, l.CommittedOffset())
	}
}

// TestGroupCommit: under SyncAlways appends go through the committer,
// which syncs for each group, and commits come contiguous and in order.
func TestGroupCommit(t *testing.T) {
	l, cs := open(t, segment.SyncAlways, segment.Config{})
	changed := l.CommitChanged()
	const n = 50
	for range n {
		if err := l.Append(app("x")); err != nil {
			t.Fatal(err)
		}
	}
	l.Detach()
	<-changed
	next, appends := uint64(0), 0
	for _, c := range cs.get() {
		if c.Err != nil || !c.Synced || c.First != next || len(c.Appends) == 0 {
			t.Fatalf("commit %+v after offset %d", c, next)
		}
		next = c.Last + 1
		appends += len(c.Appends)
	}
	if next != n || appends != n || l.CommittedOffset() != n {
		t.Fatalf("committed up to %d, %d appends, offset %d", next, appends, l.CommittedOffset())
	}
	before := len(cs.get())
	if err := l.Append(app("after")); err != nil {
		t.Fatal(err)
	}
	l.c.drain()
	if got := len(cs.get()); got != before {
		t.Fatalf("a commit delivered after Detach: %d commits, %d before", got, before)
	}
}

func TestAppendErrors(t *testing.T) {
	var c segment.Config
	c.Segment.MaxStoreBytes = 256
	l, _ := open(t, segment.SyncNever, c)
	big := make([]byte, 1000)
	err := l.Append(&service.Append{Records: []*messages.Record{{Value: big}}})
	if !errors.Is(err, service.ErrTooLarge) || l.Err() != nil {
		t.Fatalf("record too large: %v, failed %v", err, l.Err())
	}
	if _, err := l.ReadRawBatch(5, 1, 100, nil); !errors.Is(err, service.ErrOffsetOutOfRange) {
		t.Fatalf("read beyond the log: %v", err)
	}
	if _, err := l.TruncateFront(9); !errors.Is(err, service.ErrOffsetOutOfRange) {
		t.Fatalf("truncate beyond the log: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(app("a")); !errors.Is(err, service.ErrUnavailable) {
		t.Fatalf("append after Close: %v", err)
	}
}

// TestTruncateFrontLowWater: a truncate inside a segment takes effect at
// once: the lowest offset is the one asked for and a read below it is out
// of range, although the segment holding those records remains.
func TestTruncateFrontLowWater(t *testing.T) {
	l, _ := open(t, segment.SyncNever, segment.Config{})
	if err := l.Append(app("a", "b", "c", "d", "e")); err != nil {
		t.Fatal(err)
	}
	low, err := l.TruncateFront(3)
	if err != nil || low != 3 {
		t.Fatalf("truncate to 3: lowest %d, %v", low, err)
	}
	if st := l.Stats(); st.LowestOffset != 3 || st.Segments != 1 {
		t.Fatalf("stats %+v, want lowest 3 in the one segment", st)
	}
	if _, err := l.ReadRawBatch(2, 10, 1<<20, nil); !errors.Is(err, service.ErrOffsetOutOfRange) {
		t.Fatalf("read below the lowest offset: %v", err)
	}
	if b, err := l.ReadRawBatch(3, 10, 1<<20, nil); err != nil || b.N != 2 {
		t.Fatalf("read from the lowest offset: %d records, %v", b.N, err)
	}
	if low, err := l.TruncateFront(1); err != nil || low != 3 {
		t.Fatalf("truncate below the lowest offset: lowest %d, %v; want 3", low, err)
	}
}

// TestFollowsSegmentFailure: a segment log that failed on its own fails
// the Log, so that it says so once instead of failing each append.
func TestFollowsSegmentFailure(t *testing.T) {
	l, _ := open(t, segment.SyncNever, segment.Config{})
	l.failure.Fail(errors.New("fdatasync: input/output error"))
	if err := l.Append(app("a")); !errors.Is(err, service.ErrLogFailed) {
		t.Fatalf("append after failure: %v", err)
	}
	select {
	case <-l.Failed():
	default:
		t.Fatal("Failed not closed")
	}
}

func TestNewRejectsNil(t *testing.T) {
	if _, err := New(nil, Config{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

// TestTimestampsFollowTheSegmentClock checks that the local log stamps
// records with the segment log's clock, which never goes back: with an id
// (whose dedup decision needs a time) and without, a clock stepping back
// leaves the timestamps as they were, never lower.
func TestTimestampsFollowTheSegmentClock(t *testing.T) {
	var clock atomic.Int64
	var c segment.Config
	c.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	l, _ := open(t, segment.SyncNever, c)
	withID := app("b")
	withID.ID = "id-1"
	steps := []struct {
		a     *service.Append
		clock int64
		want  int64
	}{{app("a"), 5000, 5000}, {withID, 3000, 5000}, {app("c"), 9000, 9000}, {app("d"), 1000, 9000}}
	for off, st := range steps {
		clock.Store(st.clock)
		if err := l.Append(st.a); err != nil {
			t.Fatal(err)
		}
		b, err := l.ReadRawBatch(uint64(off), 1, 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		var r messages.Record
		if err := messages.UnmarshalRecord(b.Records, &r); err != nil {
			t.Fatal(err)
		}
		if r.Timestamp != st.want {
			t.Fatalf("record %d stamped %d with the clock at %d, want %d", off, r.Timestamp, st.clock, st.want)
		}
	}
}

// TestCommitChangedOnlyWhenWatched: the channel CommitChanged hands out is
// closed at the next commit, whether or not commits came while nobody held
// one, and the one handed out after a commit is open until the one after.
func TestCommitChangedOnlyWhenWatched(t *testing.T) {
	l, _ := open(t, segment.SyncNever, segment.Config{})
	closed := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	for i := range 3 {
		// Commits nobody watches.
		for range i {
			if err := l.Append(app("unwatched")); err != nil {
				t.Fatal(err)
			}
		}
		c := l.CommitChanged()
		if again := l.CommitChanged(); again != c || closed(c) {
			t.Fatalf("round %d: a second call before a commit gave another channel, or a closed one", i)
		}
		if err := l.Append(app("watched")); err != nil {
			t.Fatal(err)
		}
		if !closed(c) {
			t.Fatalf("round %d: channel still open after a commit", i)
		}
		if closed(l.CommitChanged()) {
			t.Fatalf("round %d: channel after the commit already closed", i)
		}
	}
}
