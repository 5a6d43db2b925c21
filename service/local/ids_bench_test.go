package local

import (
	"fmt"
	"testing"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/dedup"
)

// BenchmarkAppendID isolates what an id costs the log's append path: the
// lookup, the stamp, the larger record and the table's upkeep, without
// NATS in the way.
func BenchmarkAppendID(b *testing.B) {
	for _, withID := range []bool{false, true} {
		b.Run(fmt.Sprintf("ids=%v", withID), func(b *testing.B) {
			var cfg segment.Config
			cfg.Sync.Mode = segment.SyncNever
			seg, err := segment.NewLog(b.TempDir(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer seg.Close()
			l, err := New(seg, Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			if err := l.Attach(func(service.Commit) {}); err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 100)
			// The ids are made before timing, as a client makes them:
			// more than the table holds, so that each one is new again
			// when the loop comes back to it.
			ids := make([]string, 2*dedup.DefaultMaxIDs)
			for i := range ids {
				ids[i] = fmt.Sprintf("bench-%016x", i)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a := &service.Append{Records: []*messages.Record{{Value: value}}}
				if withID {
					a.ID = ids[i%len(ids)]
				}
				if err := l.Append(a); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
