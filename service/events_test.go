package service

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// nextEvent waits for the next event on sub.
func nextEvent(t *testing.T, sub *nats.Subscription) messages.Event {
	t.Helper()
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no event: %v", err)
	}
	var ev messages.Event
	if err := messages.Unmarshal(m.Data, &ev); err != nil {
		t.Fatalf("event %q: %v", m.Data, err)
	}
	return ev
}

func TestRemovedPublishesEvents(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := startFake(t, Config{Registerer: reg}, newFakeLog())
	sub, err := e.nc.SubscribeSync("evlog.events")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixNano()
	e.svc.Removed(segment.Removal{From: 0, To: 3}) // nothing but the mark moved: no segment went
	e.svc.Removed(segment.Removal{From: 3, To: 3, Segments: 1, Bytes: 9})
	e.svc.Removed(segment.Removal{From: 3, To: 10, Segments: 2, Bytes: 200, Reason: "age 1h0m0s"})
	e.svc.PublishEvent(messages.Event{Type: messages.EventSnapshot, Time: 42, LastOffset: 9, Bytes: 7})

	want := []messages.Event{
		{Type: messages.EventTruncate, FirstOffset: 0, LastOffset: 2, Reason: "truncate to 3"},
		{Type: messages.EventRetention, FirstOffset: 3, LastOffset: 9, Bytes: 200, Reason: "age 1h0m0s"},
		{Type: messages.EventSnapshot, Time: 42, LastOffset: 9, Bytes: 7},
	}
	for _, w := range want {
		got := nextEvent(t, sub)
		if w.Time == 0 {
			if got.Time < before || got.Time > time.Now().UnixNano() {
				t.Errorf("%s event at %d, not now", got.Type, got.Time)
			}
			w.Time = got.Time
		}
		if got != w {
			t.Fatalf("event %+v, want %+v", got, w)
		}
	}
	if m, err := sub.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("an empty removal was published: %q", m.Data)
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			got[name] = m.GetCounter().GetValue()
		}
	}
	for name, v := range map[string]float64{
		"evlog_events_total/retention":           1,
		"evlog_events_total/truncate":            1,
		"evlog_events_total/snapshot":            1,
		"evlog_events_total/recovery":            0,
		"evlog_retention_removed_bytes_total":    200,
		"evlog_retention_removed_segments_total": 2,
	} {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
}

func TestRecoveryReason(t *testing.T) {
	for _, tt := range []struct {
		r    segment.Recovery
		want string
	}{
		{segment.Recovery{Store: "/d/00000000000000000000.store", IndexRebuilt: true, TruncatedBytes: 17},
			"00000000000000000000.store: index rebuilt, torn tail of 17 bytes cut"},
		{segment.Recovery{Store: "00000000000000000003.store", DamagedBytes: 5},
			"00000000000000000003.store: damaged tail of 5 bytes left in place"},
	} {
		if got := recoveryReason(tt.r); got != tt.want {
			t.Errorf("reason %q, want %q", got, tt.want)
		}
	}
}
