//go:build unix

package segment

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
)

// The scale benchmarks measure how the cost of opening and reading a log
// grows with the log: NewLog after a clean Close and after a crash, with
// one segment or a hundred, and a small or a large active segment; and the
// replay rate of a log of 1,000,000 and of 10,000,000 records. They write
// gigabytes, so they run only when asked:
//
//	EVLOG_BENCH_SCALE=1 go test -run '^$' -bench Scale -timeout 30m ./segment
//
// EVLOG_BENCH_SCALE_STORE=BYTES sets the store size of the realistic
// open benchmark (default 64 MiB, 100 segments of which take 6.5 GB);
// the small one always uses 1 MiB stores.
const (
	scaleBenchEnv   = "EVLOG_BENCH_SCALE"
	scaleStoreEnv   = "EVLOG_BENCH_SCALE_STORE"
	scalePayload    = 100
	scaleSmallStore = 1 << 20
	scaleReadBatch  = 1000 // what client.Follow asks for
	scaleReadBytes  = 1 << 20
)

// skipUnlessScale skips the benchmark unless the scale switch is set.
func skipUnlessScale(b *testing.B) {
	b.Helper()
	if os.Getenv(scaleBenchEnv) == "" {
		b.Skipf("writes gigabytes; set %s=1 to run", scaleBenchEnv)
	}
}

// scaleStore is the store size of the realistic open benchmark.
func scaleStore(b *testing.B) uint64 {
	b.Helper()
	s := os.Getenv(scaleStoreEnv)
	if s == "" {
		return DefaultMaxStoreBytes
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n < scaleSmallStore {
		b.Fatalf("%s=%q: want a size in bytes of at least %d", scaleStoreEnv, s, scaleSmallStore)
	}
	return n
}

// scaleConfig is the config of the scale logs: stores of storeBytes and
// an index that never fills before its store, no syncing while building.
func scaleConfig(storeBytes uint64) Config {
	c := DefaultConfig()
	c.Segment.MaxStoreBytes = storeBytes
	c.Segment.MaxIndexBytes = (storeBytes/(scalePayload+16) + 1) * entryWidth
	c.Sync.Mode = SyncNever
	return c
}

// fillActive appends records of scalePayload bytes until the active store
// holds at least upTo bytes or the log has rolled sealed times in all.
func fillActive(b *testing.B, l *Log, sealed int, upTo uint64) {
	b.Helper()
	payload := make([]byte, scalePayload)
	batch := make([]*messages.Record, 1000)
	for {
		l.mu.RLock()
		segments, size := len(l.segments), l.active().store.size
		l.mu.RUnlock()
		if segments > sealed+1 {
			b.Fatalf("the log rolled past %d sealed segments", sealed)
		}
		if segments == sealed+1 && size >= upTo {
			return
		}
		// Small steps near the goal, so that the active store ends near
		// upTo instead of a whole batch past it.
		n := len(batch)
		if segments == sealed+1 {
			n = int(min(uint64(n), (upTo-size)/(scalePayload+16)+1))
		}
		for i := range n {
			batch[i] = &messages.Record{Value: payload}
		}
		if _, err := l.AppendUnsynced(batch[:n]); err != nil {
			b.Fatal(err)
		}
	}
}

// crashState leaves the closed log in dir as a kill -9 of its process
// would: the active index grown to its capacity, as it is while mapped,
// with zeros after its entries, so that the next open cannot trust it and
// scans the active store.
func crashState(b *testing.B, dir string, active uint64, c Config) {
	b.Helper()
	if err := os.Truncate(segmentName(dir, active, indexSuffix), int64(c.Segment.MaxIndexBytes)); err != nil {
		b.Fatal(err)
	}
}

// benchOpen times NewLog of dir, whose active segment starts at active,
// after a clean Close or, with crash, in the state a crash leaves. It
// checks that recovery did what the stop calls for: nothing after a clean
// close, the active index alone rebuilt after a crash.
func benchOpen(b *testing.B, dir string, active uint64, c Config, crash bool) {
	for range b.N {
		b.StopTimer()
		if crash {
			crashState(b, dir, active, c)
		}
		b.StartTimer()
		l, err := NewLog(dir, c)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		rec := l.Recovered()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		switch {
		case !crash && len(rec) != 0:
			b.Fatalf("a clean reopen recovered %+v", rec)
		case crash && (len(rec) != 1 || rec[0].BaseOffset != active || !rec[0].IndexRebuilt):
			b.Fatalf("a crashed reopen recovered %+v, want the active segment's index rebuilt", rec)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/open")
}

// BenchmarkScaleOpen times NewLog with 0 or 99 sealed segments before the
// active one, which holds about 1/64 of a store (small) or 15/16 of it
// (large), after a clean Close (stop=clean) and in the state a kill -9
// leaves (stop=crash). A clean open should cost the same whatever the
// number of segments; a crashed one should grow with the active segment
// only. Names read store=SIZE/sealed=N/active=SIZE/stop=HOW.
func BenchmarkScaleOpen(b *testing.B) {
	skipUnlessScale(b)
	for _, store := range []uint64{scaleSmallStore, scaleStore(b)} {
		for _, sealed := range []int{0, 99} {
			b.Run(fmt.Sprintf("store=%dMiB/sealed=%d", store>>20, sealed), func(b *testing.B) {
				benchOpenLog(b, store, sealed)
			})
		}
	}
}

// benchOpenLog builds a log of sealed full segments of store bytes and
// times its opening with a small active segment, then with a large one.
func benchOpenLog(b *testing.B, store uint64, sealed int) {
	c := scaleConfig(store)
	dir := b.TempDir()
	l, err := NewLog(dir, c)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if l != nil {
			l.Close()
		}
	}()
	for _, active := range []struct {
		name string
		fill uint64
	}{{"small", store / 64}, {"large", store / 16 * 15}} {
		if l == nil {
			if l, err = NewLog(dir, c); err != nil {
				b.Fatal(err)
			}
		}
		fillActive(b, l, sealed, active.fill)
		base := l.active().base
		err := l.Close()
		l = nil
		if err != nil {
			b.Fatal(err)
		}
		for _, crash := range []bool{false, true} {
			stop := map[bool]string{false: "clean", true: "crash"}[crash]
			b.Run(fmt.Sprintf("active=%s/stop=%s", active.name, stop), func(b *testing.B) {
				benchOpen(b, dir, base, c, crash)
			})
		}
	}
}

// BenchmarkScaleReplay reads a log of 1,000,000 or 10,000,000 records of
// 100 B (default 64 MiB segments) from its first record to its last, in
// raw batches of 1000 as the read endpoint does. One op is one pass;
// records/s should not depend on the size of the log.
func BenchmarkScaleReplay(b *testing.B) {
	skipUnlessScale(b)
	for _, total := range []int{1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("records=%dM", total/1_000_000), func(b *testing.B) {
			l := replayLog(b, total)
			defer l.Close()
			b.SetBytes(int64(l.Stats().Bytes))
			before := cpuTime(b)
			b.ResetTimer()
			for range b.N {
				replayAll(b, l, total)
			}
			b.StopTimer()
			records := float64(b.N) * float64(total)
			b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
			// The CPU the process spent per record does not count the
			// time other work on the machine took the cores.
			b.ReportMetric(float64(cpuTime(b)-before)/records, "cpu-ns/record")
		})
	}
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// replayLog writes a log of total records of scalePayload bytes, closes
// it, which syncs it, and opens it again: the replay then reads a log at
// rest, not one whose pages the kernel is still writing back.
func replayLog(b *testing.B, total int) *Log {
	b.Helper()
	c := DefaultConfig()
	c.Sync.Mode = SyncNever
	dir := b.TempDir()
	l, err := NewLog(dir, c)
	if err != nil {
		b.Fatal(err)
	}
	fillRecords(b, l, total)
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if l, err = NewLog(dir, c); err != nil {
		b.Fatal(err)
	}
	return l
}

// fillRecords appends total records of scalePayload bytes, in batches.
func fillRecords(b *testing.B, l *Log, total int) {
	b.Helper()
	payload := make([]byte, scalePayload)
	batch := make([]*messages.Record, 10000)
	for left := total; left > 0; left -= len(batch) {
		batch = batch[:min(len(batch), left)]
		for i := range batch {
			batch[i] = &messages.Record{Value: payload}
		}
		if _, err := l.AppendUnsynced(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// replayAll reads every record of l, which holds total from offset 0, and
// fails unless it got exactly those.
func replayAll(b *testing.B, l *Log, total int) {
	var buf []byte
	off := uint64(0)
	for off < uint64(total) {
		rb, err := l.ReadRawBatch(off, scaleReadBatch, scaleReadBytes, buf[:0])
		if err != nil {
			b.Fatalf("read at %d: %v", off, err)
		}
		if rb.N == 0 {
			b.Fatalf("read at %d returned nothing", off)
		}
		off += uint64(rb.N)
		buf = rb.Records
	}
	if off != uint64(total) {
		b.Fatalf("read %d records, want %d", off, total)
	}
}
