package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// BenchmarkAppendIdempotent measures what deduplication costs: the same
// appends to one log with and without an id, fresh for every request, at
// 1 and 64 in flight, under SyncAlways and SyncNever (where the disk
// hides the least). Names read sync=MODE/inflight=N/batch=1/ids=BOOL.
func BenchmarkAppendIdempotent(b *testing.B) {
	ns := jetStreamServer(b, false)
	nc := connect(b, ns.ClientURL())
	const size = 100
	for _, mode := range []segment.SyncMode{segment.SyncAlways, segment.SyncNever} {
		prefix := "evlog-dedup-" + mode.String()
		serveLog(b, ns, false, b.TempDir(), prefix, mode)
		for _, inflight := range []int{1, 64} {
			for _, ids := range []bool{false, true} {
				t := appendTarget(prefix, nc, prefix, size, true)
				if ids {
					t = idAppendTarget(prefix, nc, prefix, size)
				}
				b.Run(fmt.Sprintf("sync=%v/inflight=%d/batch=1/ids=%v", mode, inflight, ids), func(b *testing.B) {
					drive(b, size, shape{inflight: inflight, batch: 1}, t)
				})
			}
		}
	}
}

// benchIDs numbers the ids of idAppendTarget across the benchmark's runs,
// which each count their requests from 0, so that no id repeats.
var benchIDs atomic.Uint64

// idAppendTarget is appendTarget with a fresh id in every request, and a
// check that none is answered as a duplicate. Like appendTarget it encodes
// each request's body once: only the id's hex digits are rewritten in
// place, so that the client does no more work than without ids and the
// difference between the two is the service's.
func idAppendTarget(name string, nc *nats.Conn, prefix string, payload int) target {
	value := make([]byte, payload)
	const placeholder = "bench-@@@@@@@@@@@@@@@@"
	templates := map[int][]byte{}
	body := func(_, n int) ([]byte, error) {
		b, ok := templates[n]
		if !ok {
			recs := make([]messages.Record, n)
			for i := range recs {
				recs[i] = messages.Record{Value: value}
			}
			var err error
			if b, err = messages.Marshal(&messages.AppendRequest{Records: recs, ID: placeholder}); err != nil {
				return nil, err
			}
			templates[n] = b
		}
		at := bytes.Index(b, []byte("bench-")) + len("bench-")
		if at < len("bench-") {
			return nil, fmt.Errorf("no id in the encoded request")
		}
		hex.Encode(b[at:at+16], binary.BigEndian.AppendUint64(nil, benchIDs.Add(1)))
		return b, nil
	}
	return requestTarget(name, nc, messages.NewSubjects(prefix).Append, body, func(_, n int, m *nats.Msg) error {
		var rep messages.AppendReply
		if err := messages.Unmarshal(m.Data, &rep); err != nil {
			return err
		}
		if rep.Duplicate || rep.LastOffset-rep.FirstOffset+1 != uint64(n) {
			return fmt.Errorf("append of %d records answered %+v", n, rep)
		}
		return nil
	})
}
