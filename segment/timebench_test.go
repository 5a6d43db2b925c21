package segment

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
)

// timeBenchEnv sets the records of BenchmarkOffsetAtTime's log; its
// default keeps a smoke run of the benchmarks quick.
const timeBenchEnv = "EVLOG_BENCH_TIME_RECORDS"

// BenchmarkOffsetAtTime looks up a record by time in a log of 16-byte
// records (100,000, or EVLOG_BENCH_TIME_RECORDS), through the time index
// and, for comparison, by a linear scan of the records from the start, as
// a log without one would have to. The log is built once.
//
//	EVLOG_BENCH_TIME_RECORDS=10000000 go test -run '^$' -bench OffsetAtTime ./segment
func BenchmarkOffsetAtTime(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv(timeBenchEnv)); err == nil && v > 0 {
		n = v
	}
	c := quietConfig(0, 0)
	clock := int64(0)
	c.Now = func() time.Time { return time.Unix(0, clock) }
	l, err := NewLog(b.TempDir(), c)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const batch = 1000
	recs := make([]*messages.Record, batch)
	for i := 0; i < n; i += batch {
		for j := range recs {
			recs[j] = &messages.Record{Value: []byte("0123456789abcdef")}
		}
		clock += 1000 // a microsecond a batch: a thousand records share a timestamp
		if _, err := l.AppendUnsynced(recs[:min(batch, n-i)]); err != nil {
			b.Fatal(err)
		}
	}
	// The last batch's time: the worst case for a scan.
	target := clock
	want := uint64((n - 1) / batch * batch)
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			if off, err := l.OffsetAtTime(target); err != nil || off != want {
				b.Fatalf("OffsetAtTime: %d, %v; want %d", off, err, want)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			if off := scanTime(b, l, target); off != want {
				b.Fatalf("scan: %d, want %d", off, want)
			}
		}
	})
}

// scanTime finds the first record at or after ts by reading every record
// from the start.
func scanTime(b *testing.B, l *Log, ts int64) uint64 {
	next := l.NextOffset()
	for off := uint64(0); off < next; off++ {
		r, err := l.Read(off)
		if err != nil {
			b.Fatal(err)
		}
		if r.Timestamp >= ts {
			return off
		}
	}
	return next
}
