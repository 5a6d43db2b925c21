package service

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/servicetest"
)

// fakeEnv is a service on a fakeLog, on an embedded nats-server, with a
// client connection of its own.
type fakeEnv struct {
	log *fakeLog
	svc *Service
	nc  *nats.Conn
}

func startFake(t *testing.T, cfg Config, log *fakeLog) *fakeEnv {
	t.Helper()
	return startFakeOn(t, servicetest.NATS(t, nil), cfg, log)
}

// startFakeOn is startFake on the server ns.
func startFakeOn(t *testing.T, ns *server.Server, cfg Config, log *fakeLog) *fakeEnv {
	t.Helper()
	svc := serveFake(t, ns.ClientURL(), cfg, log)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &fakeEnv{log: log, svc: svc, nc: nc}
}

// serveFake serves log on a connection of its own to url, until the test
// ends.
func serveFake(t *testing.T, url string, cfg Config, log *fakeLog) *Service {
	t.Helper()
	snc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(snc.Close)
	cfg.ProbeTimeout = 100 * time.Millisecond
	svc, err := New(snc, log, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return svc
}

// request sends v, msgpack-encoded unless it is already bytes, to the
// endpoint and returns the reply's code (200 for success) and body.
func (e *fakeEnv) request(t *testing.T, endpoint string, v any) (int, []byte) {
	t.Helper()
	body, ok := v.([]byte)
	if !ok && v != nil {
		var err error
		if body, err = messages.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	msg, err := e.nc.Request(messages.DefaultPrefix+"."+endpoint, body, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", endpoint, err)
	}
	return replyCode(t, msg), msg.Data
}

func replyCode(t *testing.T, msg *nats.Msg) int {
	t.Helper()
	c := msg.Header.Get("Nats-Service-Error-Code")
	if c == "" {
		return codeOK
	}
	if msg.Header.Get("Nats-Service-Error") == "" {
		t.Fatalf("error %s without a description", c)
	}
	n, err := strconv.Atoi(c)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func appendReq(values ...string) *messages.AppendRequest {
	ar := &messages.AppendRequest{}
	for _, v := range values {
		ar.Records = append(ar.Records, messages.Record{Value: []byte(v)})
	}
	return ar
}

func TestAppendCodes(t *testing.T) {
	e := startFake(t, Config{MaxBatchRecords: 2, MaxRecordBytes: 100}, newFakeLog())
	for _, tc := range []struct {
		name string
		req  any
		want int
	}{
		{"ok", appendReq("a", "b"), codeOK},
		{"not msgpack", []byte{0xc1}, messages.CodeBadRequest},
		{"no records", appendReq(), messages.CodeBadRequest},
		{"empty record", &messages.AppendRequest{Records: []messages.Record{{}}}, messages.CodeBadRequest},
		{"too many records", appendReq("a", "b", "c"), messages.CodeTooLarge},
		{"record too large", appendReq(strings.Repeat("x", 200)), messages.CodeTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := e.request(t, "append", tc.req); got != tc.want {
				t.Fatalf("code %d, want %d", got, tc.want)
			}
		})
	}
	if got := e.svc.CommittedOffset(); got != 2 {
		t.Fatalf("committed %d after one good append of two records", got)
	}
}

func TestAppendReply(t *testing.T) {
	e := startFake(t, Config{}, newFakeLog())
	e.request(t, "append", appendReq("a"))
	code, body := e.request(t, "append", appendReq("b", "c"))
	var rep messages.AppendReply
	if err := messages.Unmarshal(body, &rep); code != codeOK || err != nil || rep.FirstOffset != 1 || rep.LastOffset != 2 {
		t.Fatalf("append: %d %+v %v", code, rep, err)
	}
}

func TestAppendQueueFull(t *testing.T) {
	log := newFakeLog()
	log.hold = true
	e := startFake(t, Config{MaxPendingAppends: 2}, log)
	replies := make(chan *nats.Msg, 3)
	// Two appends held by the log, asynchronously; the third is refused.
	sub, err := e.nc.ChanSubscribe(nats.NewInbox(), replies)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	body, _ := messages.Marshal(appendReq("x"))
	for range 2 {
		if err := e.nc.PublishRequest("evlog.append", sub.Subject, body); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "two appends held", func() bool { return e.svc.Stats().PendingAppends == 2 })
	if code, _ := e.request(t, "append", appendReq("y")); code != messages.CodeUnavailable {
		t.Fatalf("third append: %d, want 503", code)
	}
	log.release()
	for range 2 {
		select {
		case m := <-replies:
			if c := replyCode(t, m); c != codeOK {
				t.Fatalf("held append answered %d", c)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("held appends not answered after the commit")
		}
	}
	if got := e.svc.Stats().PendingAppends; got != 0 {
		t.Fatalf("%d pending after the commit", got)
	}
}

func TestAppendLogErrors(t *testing.T) {
	log := newFakeLog()
	e := startFake(t, Config{}, log)
	log.mu.Lock()
	log.appendErr = errors.New("disk on fire")
	log.mu.Unlock()
	if code, _ := e.request(t, "append", appendReq("a")); code != messages.CodeInternal {
		t.Fatalf("unknown log error: %d, want 500", code)
	}
	log.mu.Lock()
	log.appendErr = nil
	log.hold = true
	log.mu.Unlock()
	sub, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := messages.Marshal(appendReq("held"))
	if err := e.nc.PublishRequest("evlog.append", sub.Subject, body); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "an append held", func() bool { return e.svc.Stats().PendingAppends == 1 })
	log.fail(errors.New("fdatasync: EIO"))
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || replyCode(t, m) != messages.CodeInternal {
		t.Fatalf("held append after the failure: %v %v", m, err)
	}
	if code, _ := e.request(t, "append", appendReq("a")); code != messages.CodeInternal {
		t.Fatalf("append after the failure: %d, want 500", code)
	}
	select {
	case <-e.svc.Failed():
	default:
		t.Fatal("Failed not closed")
	}
	if !errors.Is(e.svc.Err(), ErrLogFailed) {
		t.Fatalf("Err: %v", e.svc.Err())
	}
}

func TestCommittedNotifications(t *testing.T) {
	log := newFakeLog()
	e := startFake(t, Config{}, log)
	sub, err := e.nc.SubscribeSync("evlog.committed")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	e.request(t, "append", appendReq("a", "b"))
	log.mu.Lock()
	log.hold = true
	log.mu.Unlock()
	inbox := nats.NewInbox()
	for _, v := range []string{"c", "d", "e"} {
		body, _ := messages.Marshal(appendReq(v))
		if err := e.nc.PublishRequest("evlog.append", inbox, body); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "three appends held", func() bool { return e.svc.Stats().PendingAppends == 3 })
	log.release()
	want := []messages.Committed{{FirstOffset: 0, LastOffset: 1}, {FirstOffset: 2, LastOffset: 4}}
	for _, w := range want {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var got messages.Committed
		if err := messages.Unmarshal(m.Data, &got); err != nil || got != w {
			t.Fatalf("notification %+v (%v), want %+v", got, err, w)
		}
	}
}

func TestRead(t *testing.T) {
	log := newFakeLog()
	e := startFake(t, Config{MaxRecordBytes: 100, MaxReadBytes: 100}, log)
	e.request(t, "append", appendReq("a", "b", "c", "d"))
	if _, err := log.TruncateFront(1); err != nil {
		t.Fatal(err)
	}
	code, body := e.request(t, "read", &messages.ReadRequest{Offset: 1, MaxRecords: 2})
	var rep messages.ReadReply
	if err := messages.Unmarshal(body, &rep); code != codeOK || err != nil || len(rep.Records) != 2 ||
		string(rep.Records[0].Value) != "b" || rep.Records[1].Offset != 2 || rep.NextOffset != 3 {
		t.Fatalf("read: %d %+v %v", code, rep, err)
	}
	for _, tc := range []struct {
		name string
		req  any
		want int
	}{
		{"below the lowest", &messages.ReadRequest{Offset: 0}, messages.CodeOffsetOutOfRange},
		{"beyond the committed", &messages.ReadRequest{Offset: 5}, messages.CodeOffsetOutOfRange},
		{"at the committed", &messages.ReadRequest{Offset: 4}, codeOK},
		{"not msgpack", []byte{0xc1}, messages.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := e.request(t, "read", tc.req); got != tc.want {
				t.Fatalf("code %d, want %d", got, tc.want)
			}
		})
	}
}

func TestReadTooLarge(t *testing.T) {
	// A record the service's limits would refuse, as in a log written
	// with larger ones.
	log := newFakeLog()
	b, err := messages.Marshal(&messages.Record{Value: []byte(strings.Repeat("x", 200))})
	if err != nil {
		t.Fatal(err)
	}
	log.encoded, log.committed = [][]byte{b}, 1
	e := startFake(t, Config{MaxRecordBytes: 100, MaxReadBytes: 100}, log)
	if code, _ := e.request(t, "read", &messages.ReadRequest{Offset: 0, MaxBytes: 10}); code != messages.CodeTooLarge {
		t.Fatalf("read of a record larger than a reply: %d, want 413", code)
	}
}

func TestLongPollWakes(t *testing.T) {
	e := startFake(t, Config{}, newFakeLog())
	sub, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := messages.Marshal(&messages.ReadRequest{Offset: 0, MaxRecords: 10, WaitMS: 10000})
	if err := e.nc.PublishRequest("evlog.read", sub.Subject, body); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a parked read", func() bool { return e.svc.Stats().ParkedReads == 1 })
	start := time.Now()
	e.request(t, "append", appendReq("woken"))
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep messages.ReadReply
	if err := messages.Unmarshal(m.Data, &rep); err != nil || len(rep.Records) != 1 || string(rep.Records[0].Value) != "woken" {
		t.Fatalf("woken read: %+v %v", rep, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("woken after %v", took)
	}
}

func TestTruncate(t *testing.T) {
	e := startFake(t, Config{}, newFakeLog())
	e.request(t, "append", appendReq("a", "b", "c"))
	code, body := e.request(t, "truncate", &messages.TruncateRequest{Lowest: 2})
	var rep messages.TruncateReply
	if err := messages.Unmarshal(body, &rep); code != codeOK || err != nil || rep.LowestOffset != 2 {
		t.Fatalf("truncate: %d %+v %v", code, rep, err)
	}
	if code, _ := e.request(t, "truncate", &messages.TruncateRequest{Lowest: 4}); code != messages.CodeOffsetOutOfRange {
		t.Fatalf("truncate beyond the committed offset: %d, want 404", code)
	}
}

func TestInfo(t *testing.T) {
	e := startFake(t, Config{}, newFakeLog())
	e.request(t, "append", appendReq("a", "b"))
	code, body := e.request(t, "info", nil)
	var rep messages.InfoReply
	if err := messages.Unmarshal(body, &rep); code != codeOK || err != nil || rep.NextOffset != 2 || rep.LowestOffset != 0 || rep.Segments != 1 {
		t.Fatalf("info: %d %+v %v", code, rep, err)
	}
}

// TestStopAnswers: Stop answers the appends the log holds, and requests
// that still reach the handlers get 503.
func TestStopAnswers(t *testing.T) {
	log := newFakeLog()
	log.hold = true
	e := startFake(t, Config{}, log)
	sub, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := messages.Marshal(appendReq("held"))
	if err := e.nc.PublishRequest("evlog.append", sub.Subject, body); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "an append held", func() bool { return e.svc.Stats().PendingAppends == 1 })
	if err := e.svc.Stop(); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || replyCode(t, m) != codeOK {
		t.Fatalf("held append after Stop: %v %v", m, err)
	}
	// The handlers are gone: what still arrives finds no responder.
	if _, err := e.nc.Request("evlog.info", nil, time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("info after Stop: %v", err)
	}
}

// TestStoppingRejects: a handler that runs once Stop has begun answers
// 503.
func TestStoppingRejects(t *testing.T) {
	e := startFake(t, Config{}, newFakeLog())
	e.svc.mu.Lock()
	e.svc.stopping = true
	e.svc.mu.Unlock()
	defer func() {
		e.svc.mu.Lock()
		e.svc.stopping = false
		e.svc.mu.Unlock()
	}()
	for _, ep := range []string{"append", "read", "truncate", "info"} {
		if code, _ := e.request(t, ep, appendReq("a")); code != messages.CodeUnavailable {
			t.Fatalf("%s while stopping: %d, want 503", ep, code)
		}
	}
}

func TestCodeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{ErrBadRequest, messages.CodeBadRequest},
		{ErrOffsetOutOfRange, messages.CodeOffsetOutOfRange},
		{ErrTooLarge, messages.CodeTooLarge},
		{errStopping, messages.CodeUnavailable},
		{errors.Join(ErrLogFailed, ErrUnavailable), messages.CodeInternal},
		{errors.New("other"), messages.CodeInternal},
	} {
		if got := codeOf(tc.err); got != tc.want {
			t.Errorf("codeOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// waitUntil polls cond until it holds or 10 s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestStopAnswersParkedReads: Stop answers a parked read with the records
// committed for it, and with 503 when none have, so that a follower
// reconnects rather than take an empty reply for the end of its wait.
func TestStopAnswersParkedReads(t *testing.T) {
	log := newFakeLog()
	e := startFake(t, Config{}, log)
	e.request(t, "append", appendReq("a"))
	log.mu.Lock()
	log.hold = true
	log.mu.Unlock()
	sub, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	// The read waits at 1, where a held append commits during Stop.
	rb, _ := messages.Marshal(&messages.ReadRequest{Offset: 1, MaxRecords: 10, WaitMS: 30000})
	if err := e.nc.PublishRequest("evlog.read", sub.Subject, rb); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a parked read", func() bool { return e.svc.Stats().ParkedReads == 1 })
	held, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := messages.Marshal(appendReq("b"))
	if err := e.nc.PublishRequest("evlog.append", held.Subject, body); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "an append held", func() bool { return e.svc.Stats().PendingAppends == 1 })
	if err := e.svc.Stop(); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep messages.ReadReply
	if err := messages.Unmarshal(m.Data, &rep); replyCode(t, m) != codeOK || err != nil || len(rep.Records) != 1 || string(rep.Records[0].Value) != "b" {
		t.Fatalf("parked read whose records committed during Stop: %d %+v %v", replyCode(t, m), rep, err)
	}
}

// TestStopRefusesEmptyParkedReads: a read still waiting when Stop comes,
// with nothing committed for it, gets 503.
func TestStopRefusesEmptyParkedReads(t *testing.T) {
	e := startFake(t, Config{}, newFakeLog())
	e.request(t, "append", appendReq("a"))
	sub, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := messages.Marshal(&messages.ReadRequest{Offset: 1, WaitMS: 30000})
	if err := e.nc.PublishRequest("evlog.read", sub.Subject, body); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a parked read", func() bool { return e.svc.Stats().ParkedReads == 1 })
	start := time.Now()
	if err := e.svc.Stop(); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code := replyCode(t, m); code != messages.CodeUnavailable || len(m.Data) != 0 {
		t.Fatalf("parked read at Stop: code %d, %d bytes; want 503 and an empty body", code, len(m.Data))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("answered %v after Stop", d)
	}
}
