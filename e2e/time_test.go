package e2e

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
)

// TestReadByTime appends batches under a clock that the test drives,
// across many segments, and reads from times at, between, before and after
// them over NATS, in msgpack and JSON, before and after a restart that
// finds the time indexes damaged and rebuilds them.
func TestReadByTime(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	url := ns.ClientURL()
	dir := t.TempDir()
	var clock atomic.Int64
	lc := smallSegments()
	lc.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	n := startNode(t, url, dir, lc, service.Config{})
	c := client.New(connect(t, url))
	const batches, perBatch = 100, 10
	for b := range batches {
		clock.Store(int64(1000 * (b + 1)))
		recs := make([]messages.Record, perBatch)
		for i := range recs {
			recs[i] = rec(val(b*perBatch + i))
		}
		if _, err := c.Append(ctxT(t), recs...); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		for _, tc := range []struct {
			ts    int64
			first uint64
		}{
			{-1, 0}, {0, 0}, {1000, 0}, {1001, 10}, {50_000, 490}, {50_500, 500},
			{100_000, 990}, {100_001, batches * perBatch},
		} {
			rep, err := c.ReadSince(ctxT(t), time.Unix(0, tc.ts), client.ReadOptions{MaxRecords: 3})
			if err != nil {
				t.Fatalf("%s: read since %d: %v", when, tc.ts, err)
			}
			if tc.first == batches*perBatch {
				if len(rep.Records) != 0 || rep.NextOffset != tc.first {
					t.Fatalf("%s: read after the last record: %+v", when, rep)
				}
				continue
			}
			if len(rep.Records) == 0 || rep.Records[0].Offset != tc.first || rep.Records[0].Timestamp < tc.ts {
				t.Fatalf("%s: read since %d: %+v, want records from %d", when, tc.ts, rep.Records, tc.first)
			}
		}
		var jr struct {
			Records []struct {
				Offset uint64 `json:"offset"`
			} `json:"records"`
		}
		jsonReply(t, request(t, connect(t, url), "evlog.read", []byte(`{"timestamp": 50500, "max_records": 2}`)), &jr)
		if len(jr.Records) != 2 || jr.Records[0].Offset != 500 {
			t.Fatalf("%s: JSON read by time: %+v", when, jr)
		}
	}
	check("running")
	n.stop(t)
	times, err := filepath.Glob(filepath.Join(dir, "*.timeindex"))
	if err != nil || len(times) < 3 {
		t.Fatalf("time indexes %v, %v: want one a segment", times, err)
	}
	for _, p := range times[1:] {
		if err := os.Truncate(p, 5); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(times[0]); err != nil {
		t.Fatal(err)
	}
	startNode(t, url, dir, lc, service.Config{})
	check("after the restart")
}
