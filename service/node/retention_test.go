package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

func TestRetentionInterval(t *testing.T) {
	for _, tc := range []struct{ age, want time.Duration }{
		{0, time.Minute},
		{time.Second, time.Second},
		{30 * time.Second, 3 * time.Second},
		{24 * time.Hour, time.Minute},
	} {
		if got := retentionInterval(tc.age); got != tc.want {
			t.Errorf("interval for %v: %v, want %v", tc.age, got, tc.want)
		}
	}
}

func TestRetentionOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"negative age", Options{RetentionAge: -time.Hour}, "--retention-age -1h0m0s is negative"},
		{"age below a second", Options{RetentionAge: time.Millisecond}, "--retention-age 1ms is below 1s"},
		{"bytes below the default store", Options{RetentionBytes: 1 << 20}, "--retention-bytes 1048576 is below --max-store-bytes 67108864"},
		{"bytes below the store", Options{MaxStoreBytes: 1 << 20, RetentionBytes: 1<<20 - 1}, "--retention-bytes 1048575 is below --max-store-bytes 1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
	if err := (Options{RetentionAge: time.Second, MaxStoreBytes: 1 << 20, RetentionBytes: 1 << 20}).Validate(); err != nil {
		t.Fatalf("valid retention: %v", err)
	}
}

// retentionEnv is a nats-server of the test's own, so that the test can
// subscribe to the events before the node starts, and a subscription.
type retentionEnv struct {
	url    string
	nc     *nats.Conn
	events *nats.Subscription
}

func newRetentionEnv(t *testing.T) *retentionEnv {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(readyTimeout) {
		t.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync("evlog.events")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &retentionEnv{url: ns.ClientURL(), nc: nc, events: sub}
}

// run runs a node with o on the env's server until the test ends, and
// returns once it serves.
func (e *retentionEnv) run(t *testing.T, o Options) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	ready, done := make(chan string, 1), make(chan error, 1)
	o.NATSURL = e.url
	o.Ready = func(url string) { ready <- url }
	go func() { done <- Run(ctx, o) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
	t.Cleanup(stop)
	select {
	case <-ready:
	case err := <-done:
		stopped = true
		cancel()
		t.Fatalf("run: %v", err)
	}
	return stop
}

func (e *retentionEnv) nextEvent(t *testing.T) messages.Event {
	t.Helper()
	m, err := e.events.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no event: %v", err)
	}
	var ev messages.Event
	if err := messages.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func (e *retentionEnv) request(t *testing.T, subject string, v any) *nats.Msg {
	t.Helper()
	var body []byte
	if v != nil {
		var err error
		if body, err = messages.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	m, err := e.nc.Request(subject, body, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	if code := m.Header.Get("Nats-Service-Error-Code"); code != "" && subject != "evlog.read" {
		t.Fatalf("%s: %s %s", subject, code, m.Header.Get("Nats-Service-Error"))
	}
	return m
}

func (e *retentionEnv) info(t *testing.T) messages.InfoReply {
	t.Helper()
	var info messages.InfoReply
	if err := messages.Unmarshal(e.request(t, "evlog.info", nil).Data, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// TestRetentionEvents runs a node with a byte limit on a log that needs
// recovery: the recovery, each removal by the policy and a truncation
// are published as events, the active segment stays, a read below the
// lowest offset says where the log starts, and a restart keeps the mark.
func TestRetentionEvents(t *testing.T) {
	dir := t.TempDir()
	seg, err := segment.NewLog(dir, segment.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seg.Append(&messages.Record{Value: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	// A torn frame at the end of the store, as a crash mid-write leaves.
	store := filepath.Join(dir, fmt.Sprintf("%020d.store", 0))
	f, err := os.OpenFile(store, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0, 0, 0, 40, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	e := newRetentionEnv(t)
	o := Options{Dir: dir, MaxRecordBytes: 100, MaxStoreBytes: 300, RetentionBytes: 600}
	stop := e.run(t, o)
	if ev := e.nextEvent(t); ev.Type != messages.EventRecovery || ev.FirstOffset != 0 || ev.LastOffset != 0 || ev.Bytes != 6 ||
		!strings.Contains(ev.Reason, "torn tail of 6 bytes cut") {
		t.Fatalf("first event %+v, want the recovery", ev)
	}

	for i := range 40 {
		e.request(t, "evlog.append", &messages.AppendRequest{Records: []messages.Record{{Value: fmt.Appendf(nil, "value-%040d", i)}}})
	}
	// Each roll past 600 bytes removes the oldest segment(s), from the
	// mark on, one event each, in order.
	var low uint64
	for low == 0 || e.info(t).LowestOffset != low {
		ev := e.nextEvent(t)
		if ev.Type != messages.EventRetention || ev.FirstOffset != low || ev.LastOffset < ev.FirstOffset ||
			ev.Bytes == 0 || ev.Reason != "bytes 600" {
			t.Fatalf("event %+v, want a retention from %d", ev, low)
		}
		low = ev.LastOffset + 1
	}
	info := e.info(t)
	if info.Segments < 1 || info.Bytes > 600+300 || info.NextOffset != 41 {
		t.Fatalf("after retention: %+v", info)
	}

	// A read below the lowest offset gets 404, naming the lowest.
	m := e.request(t, "evlog.read", &messages.ReadRequest{Offset: low - 1})
	if code, desc := m.Header.Get("Nats-Service-Error-Code"), m.Header.Get("Nats-Service-Error"); code != "404" ||
		!strings.Contains(desc, fmt.Sprintf("readable range %d to 41", low)) {
		t.Fatalf("read below the lowest: %s %q", code, desc)
	}

	// A truncation inside the active segment deletes nothing but hides
	// records: an event with no bytes.
	e.request(t, "evlog.truncate", &messages.TruncateRequest{Lowest: 40})
	ev := e.nextEvent(t)
	if want := (messages.Event{Type: messages.EventTruncate, Time: ev.Time, FirstOffset: low, LastOffset: 39, Bytes: ev.Bytes, Reason: "truncate to 40"}); ev != want {
		t.Fatalf("truncate event %+v, want %+v", ev, want)
	}

	// The mark outlives a restart, which needs no recovery: no event.
	stop()
	e.run(t, o)
	if info := e.info(t); info.LowestOffset != 40 || info.NextOffset != 41 {
		t.Fatalf("after restart: %+v", info)
	}
	if m, err := e.events.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("clean restart published %q", m.Data)
	}
}

// TestRetentionByAge: sealed segments go once their newest record is
// older than --retention-age, on the timer, without further appends.
func TestRetentionByAge(t *testing.T) {
	e := newRetentionEnv(t)
	e.run(t, Options{Dir: t.TempDir(), MaxRecordBytes: 100, MaxStoreBytes: 300, RetentionAge: time.Second})
	for i := range 10 {
		e.request(t, "evlog.append", &messages.AppendRequest{Records: []messages.Record{{Value: fmt.Appendf(nil, "value-%040d", i)}}})
	}
	before := e.info(t)
	if before.Segments < 3 {
		t.Fatalf("only %d segments", before.Segments)
	}
	ev := e.nextEvent(t)
	for ev.LastOffset+1 < before.NextOffset-1 && ev.Type == messages.EventRetention {
		// The segments may age in more than one pass.
		next := e.nextEvent(t)
		if next.FirstOffset != ev.LastOffset+1 {
			t.Fatalf("events %+v then %+v", ev, next)
		}
		ev = next
	}
	if ev.Type != messages.EventRetention || ev.Reason != "age 1s" {
		t.Fatalf("event %+v, want retention by age", ev)
	}
	after := e.info(t)
	if after.Segments != 1 || after.LowestOffset != ev.LastOffset+1 || after.NextOffset != 10 {
		t.Fatalf("after retention by age: %+v (was %+v)", after, before)
	}
}
