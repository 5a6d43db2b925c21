package segment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
)

// stepClock is a clock for Config.Now that returns the times given, one a
// call, and the last one for ever after.
type stepClock struct{ times []int64 }

func (c *stepClock) now() time.Time {
	ts := c.times[0]
	if len(c.times) > 1 {
		c.times = c.times[1:]
	}
	return time.Unix(0, ts)
}

// TestTimestampsNeverDecrease steps the clock back and checks that a
// record then gets the previous record's timestamp, in single appends, in
// a batch and across a reopen, while a caller's timestamp is kept.
func TestTimestampsNeverDecrease(t *testing.T) {
	dir := t.TempDir()
	clock := &stepClock{times: []int64{100, 200, 150, 50, 300}}
	c := quietConfig(0, 0)
	c.Now = clock.now
	l := openLog(t, dir, c)
	var got []int64
	for range 3 { // clock 100, 200, 150
		r := &messages.Record{Value: []byte("v")}
		if _, err := l.Append(r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Timestamp)
	}
	// One clock reading (50) for the batch, below the newest record.
	batch := []*messages.Record{{Value: []byte("a")}, {Value: []byte("b"), Timestamp: 7}, {Value: []byte("c")}}
	if _, err := l.AppendBatch(batch); err != nil {
		t.Fatal(err)
	}
	for _, r := range batch {
		got = append(got, r.Timestamp)
	}
	want := []int64{100, 200, 200, 200, 7, 200}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("timestamps %v, want %v", got, want)
	}
	for i, w := range want {
		if r, err := l.Read(uint64(i)); err != nil || r.Timestamp != w {
			t.Fatalf("read %d: %v, %v; want timestamp %d", i, r, err, w)
		}
	}
	closeLog(t, l)

	// After a reopen the newest record still bounds the clock.
	c.Now = (&stepClock{times: []int64{10}}).now
	l = openLog(t, dir, c)
	defer closeLog(t, l)
	r := &messages.Record{Value: []byte("after")}
	if _, err := l.Append(r); err != nil {
		t.Fatal(err)
	}
	if r.Timestamp != 200 {
		t.Fatalf("after reopen: timestamp %d, want 200", r.Timestamp)
	}
}

// timeLog appends n small records whose timestamps are 10*(i/dup), so that
// dup records share each timestamp, into segments of about perSegment
// records, and returns the timestamps by offset.
func timeLog(t *testing.T, dir string, n, dup, perSegment int) (*Log, Config, []int64) {
	t.Helper()
	fs := uint64(frameSize(t, value(0), 0))
	c := quietConfig(uint64(perSegment)*fs, 0)
	i := 0
	c.Now = func() time.Time { return time.Unix(0, int64(10*(i/dup))) }
	l := openLog(t, dir, c)
	stamps := make([]int64, n)
	for ; i < n; i++ {
		r := &messages.Record{Value: value(i)}
		if _, err := l.Append(r); err != nil {
			t.Fatal(err)
		}
		stamps[i] = r.Timestamp
	}
	return l, c, stamps
}

// checkTimes compares OffsetAtTime with a search of stamps, the
// timestamps by offset from lowest, for timestamps at, between, before and
// after every record's.
func checkTimes(t *testing.T, l *Log, lowest uint64, stamps []int64) {
	t.Helper()
	check := func(ts int64) {
		t.Helper()
		want := lowest + uint64(sort.Search(len(stamps), func(i int) bool { return stamps[i] >= ts }))
		got, err := l.OffsetAtTime(ts)
		if err != nil || got != want {
			t.Fatalf("OffsetAtTime(%d) = %d, %v; want %d", ts, got, err, want)
		}
	}
	check(-1 << 62)
	check(1 << 62)
	for _, s := range stamps {
		check(s - 1)
		check(s)
		check(s + 1)
		check(s + 5)
	}
}

func TestOffsetAtTime(t *testing.T) {
	for _, tc := range []struct {
		name               string
		n, dup, perSegment int
	}{
		{"one segment", 300, 1, 1000},
		{"equal timestamps", 300, 7, 1000},
		{"across segments", 500, 3, 90},
		{"a record a segment", 20, 2, 1},
		{"one record", 1, 1, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, c, stamps := timeLog(t, dir, tc.n, tc.dup, tc.perSegment)
			checkTimes(t, l, 0, stamps)
			closeLog(t, l)
			// The time index survives a restart, trusted as it is.
			l = openLog(t, dir, c)
			defer closeLog(t, l)
			if rec := l.Recovered(); len(rec) != 0 {
				t.Fatalf("clean reopen recovered %+v", rec)
			}
			if got := len(files(t, dir, timeIndexSuffix)); got != len(files(t, dir, storeSuffix))-1 {
				t.Fatalf("%d time index files for %d stores, want one a sealed segment", got, len(files(t, dir, storeSuffix)))
			}
			checkTimes(t, l, 0, stamps)
		})
	}
}

func TestOffsetAtTimeEmptyAndTruncated(t *testing.T) {
	dir := t.TempDir()
	c := quietConfig(0, 0)
	c.Segment.InitialOffset = 40
	l := openLog(t, dir, c)
	if off, err := l.OffsetAtTime(0); err != nil || off != 40 {
		t.Fatalf("empty log: %d, %v; want 40", off, err)
	}
	closeLog(t, l)

	l, _, stamps := timeLog(t, t.TempDir(), 300, 1, 50)
	defer closeLog(t, l)
	if err := l.TruncateFront(120); err != nil {
		t.Fatal(err)
	}
	// A timestamp of a record below the mark starts at the mark.
	checkTimes(t, l, 120, stamps[120:])
	if err := l.TruncateFront(300); err != nil {
		t.Fatal(err)
	}
	if off, err := l.OffsetAtTime(0); err != nil || off != 300 {
		t.Fatalf("truncated to the end: %d, %v; want 300", off, err)
	}
	l.Close()
	if _, err := l.OffsetAtTime(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// TestTimeIndexRebuilt damages the time index files and the active store
// of a closed log, as a crash or bit rot would, and checks that NewLog
// rebuilds them from the store to what the log had written.
func TestTimeIndexRebuilt(t *testing.T) {
	damages := []struct {
		name   string
		damage func(t *testing.T, dir string)
		// intact is the number of records the store keeps.
		intact int
	}{
		{"files removed", func(t *testing.T, dir string) {
			for _, p := range files(t, dir, timeIndexSuffix) {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
		}, 400},
		{"files cut", func(t *testing.T, dir string) {
			for _, p := range files(t, dir, timeIndexSuffix) {
				b := readFile(t, p)
				writeFile(t, p, b[:len(b)/2])
			}
		}, 400},
		{"timestamps garbled", func(t *testing.T, dir string) {
			for _, p := range files(t, dir, timeIndexSuffix) {
				b := readFile(t, p)
				b[5] ^= 0x40 // the first entry's timestamp
				writeFile(t, p, b)
			}
		}, 400},
		{"store tail torn", func(t *testing.T, dir string) {
			stores := files(t, dir, storeSuffix)
			p := stores[len(stores)-1]
			b := readFile(t, p)
			writeFile(t, p, b[:len(b)-3])
		}, 399},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			l, c, stamps := timeLog(t, dir, 400, 2, 150)
			closeLog(t, l)
			want := map[string][]byte{}
			for _, p := range files(t, dir, timeIndexSuffix) {
				want[filepath.Base(p)] = readFile(t, p)
			}
			d.damage(t, dir)
			l = openLog(t, dir, c)
			checkTimes(t, l, 0, stamps[:d.intact])
			closeLog(t, l)
			if got := files(t, dir, timeIndexSuffix); len(got) != len(want) {
				t.Fatalf("time indexes %v after the reopen, had %d", got, len(want))
			}
			for _, p := range files(t, dir, timeIndexSuffix) {
				if got := readFile(t, p); string(got) != string(want[filepath.Base(p)]) {
					t.Fatalf("%s rebuilt as % x, the log wrote % x", p, got, want[filepath.Base(p)])
				}
			}
			rep, err := Check(dir, CheckOptions{})
			if err != nil || !rep.OK() {
				t.Fatalf("check after reopen: %+v, %v", rep, err)
			}
		})
	}
}

// TestCheckTimeIndex shows Check finding a time index that does not match
// its store, and Repair rebuilding it.
func TestCheckTimeIndex(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := timeLog(t, dir, 400, 1, 150)
	closeLog(t, l)
	p := files(t, dir, timeIndexSuffix)[0]
	orig := readFile(t, p)
	// A file of another segment: intact, but not this one's.
	writeFile(t, p, readFile(t, files(t, dir, timeIndexSuffix)[1]))
	rep, err := Check(dir, CheckOptions{})
	if err != nil || rep.OK() || len(rep.Segments[0].Problems) != 1 {
		t.Fatalf("check of a foreign time index: %+v, %v; want one problem", rep, err)
	}
	t.Log(rep.Segments[0].Problems[0])
	rep, err = Check(dir, CheckOptions{Repair: true})
	if err != nil || !rep.OK() || rep.Segments[0].Status != StatusRepaired {
		t.Fatalf("repair: %+v, %v", rep, err)
	}
	if got := readFile(t, p); string(got) != string(orig) {
		t.Fatalf("repaired time index % x, want % x", got, orig)
	}
	// A missing one in a sealed segment is a note: opening builds it.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	rep, err = Check(dir, CheckOptions{})
	if err != nil || !rep.OK() || len(rep.Segments[0].Notes) != 1 {
		t.Fatalf("check without a time index: %+v, %v; want one note", rep, err)
	}
}
