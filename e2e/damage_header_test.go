package e2e

import (
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/segmenttest"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
)

// TestDamagedOffsetHeader: on the real log, a read whose batch a damaged
// record ends names the record in the Evlog-Damaged-Offset header, once
// per read however often it is read, and the segment log reports it to
// OnDamage only once.
func TestDamagedOffsetHeader(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	dir := t.TempDir()
	n := startNode(t, ns.ClientURL(), dir, segment.Config{}, service.Config{})
	nc := connect(t, ns.ClientURL())
	var recs []messages.Record
	for i := range 8 {
		recs = append(recs, rec(val(i)))
	}
	if _, err := client.New(nc).Append(ctxT(t), recs...); err != nil {
		t.Fatal(err)
	}
	n.stop(t)
	segmenttest.FlipRecordBit(t, segmenttest.Segments(t, dir)[0].Store, 4)
	reported := make(chan *segment.DamageError, 10)
	startNode(t, ns.ClientURL(), dir, segment.Config{OnDamage: func(d *segment.DamageError) { reported <- d }}, service.Config{})

	for _, tc := range []struct {
		from    uint64
		records int
		header  string
	}{
		{0, 4, "4"},
		{2, 2, "4"},
		{5, 3, ""},
	} {
		body, _ := messages.Marshal(&messages.ReadRequest{Offset: tc.from, MaxRecords: 100})
		msg, err := nc.Request("evlog.read", body, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var rep messages.ReadReply
		if err := messages.Unmarshal(msg.Data, &rep); err != nil || len(rep.Records) != tc.records {
			t.Fatalf("read from %d: %d records (%v), want %d", tc.from, len(rep.Records), err, tc.records)
		}
		if got := msg.Header.Get(service.DamagedOffsetHeader); got != tc.header {
			t.Fatalf("read from %d: %s %q, want %q", tc.from, service.DamagedOffsetHeader, got, tc.header)
		}
	}
	if got := len(reported); got != 1 {
		t.Fatalf("OnDamage called %d times, want once", got)
	}
	if d := <-reported; d.Offset != 4 || d.Segment != 0 {
		t.Fatalf("OnDamage got segment %d offset %d, want 0 and 4", d.Segment, d.Offset)
	}
}
