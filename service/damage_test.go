package service

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
)

// TestReadStopsAtDamage: a read whose batch a damaged record ends says so
// in a header naming the record, the read of the damaged record itself
// fails with 500, and reads that meet no damage carry no header.
func TestReadStopsAtDamage(t *testing.T) {
	log := newFakeLog()
	log.damaged = map[uint64]bool{5: true}
	e := startFake(t, Config{}, log)
	values := make([]string, 10)
	for i := range values {
		values[i] = string(rune('a' + i))
	}
	e.request(t, "append", appendReq(values...))

	for _, tc := range []struct {
		from, max uint64
		records   int
		damaged   string
	}{
		{0, 10, 5, "5"},
		{3, 10, 2, "5"},
		{0, 5, 5, ""}, // the limit ends it before the damage
		{6, 10, 4, ""},
	} {
		msg := e.readMsg(t, &messages.ReadRequest{Offset: tc.from, MaxRecords: tc.max})
		var rep messages.ReadReply
		if err := messages.Unmarshal(msg.Data, &rep); err != nil || replyCode(t, msg) != codeOK {
			t.Fatalf("read from %d: %d %v", tc.from, replyCode(t, msg), err)
		}
		if len(rep.Records) != tc.records || rep.NextOffset != tc.from+uint64(tc.records) {
			t.Fatalf("read from %d: %d records, next %d; want %d", tc.from, len(rep.Records), rep.NextOffset, tc.records)
		}
		if got := msg.Header.Get(DamagedOffsetHeader); got != tc.damaged {
			t.Fatalf("read from %d: %s %q, want %q", tc.from, DamagedOffsetHeader, got, tc.damaged)
		}
	}
	msg := e.readMsg(t, &messages.ReadRequest{Offset: 5, MaxRecords: 10})
	if code := replyCode(t, msg); code != messages.CodeInternal || !strings.Contains(msg.Header.Get("Nats-Service-Error"), "offset 5") {
		t.Fatalf("read of the damaged record: %d %q, want 500 naming offset 5", code, msg.Header.Get("Nats-Service-Error"))
	}
}

// TestParkedReadStopsAtDamage: a long poll woken by records that run into
// a damaged one gets the header too.
func TestParkedReadStopsAtDamage(t *testing.T) {
	log := newFakeLog()
	log.damaged = map[uint64]bool{2: true}
	e := startFake(t, Config{}, log)
	e.request(t, "append", appendReq("a"))
	sub, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := messages.Marshal(&messages.ReadRequest{Offset: 1, MaxRecords: 10, WaitMS: 10000})
	if err := e.nc.PublishRequest("evlog.read", sub.Subject, body); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a parked read", func() bool { return e.svc.Stats().ParkedReads == 1 })
	e.request(t, "append", appendReq("b", "c", "d"))
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep messages.ReadReply
	if err := messages.Unmarshal(m.Data, &rep); err != nil || len(rep.Records) != 1 || rep.NextOffset != 2 {
		t.Fatalf("woken read: %+v %v", rep, err)
	}
	if got := m.Header.Get(DamagedOffsetHeader); got != "2" {
		t.Fatalf("woken read: %s %q, want 2", DamagedOffsetHeader, got)
	}
}

// readMsg sends a read request and returns the whole reply.
func (e *fakeEnv) readMsg(t *testing.T, rr *messages.ReadRequest) *nats.Msg {
	t.Helper()
	body, err := messages.Marshal(rr)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := e.nc.Request("evlog.read", body, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}
