package service

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/servicetest"
)

// requestJSON sends body, with the JSON content type when typed, and
// returns the reply.
func (e *fakeEnv) requestJSON(t *testing.T, endpoint, body string, typed bool) *nats.Msg {
	t.Helper()
	msg := nats.NewMsg(messages.DefaultPrefix + "." + endpoint)
	msg.Data = []byte(body)
	if typed {
		msg.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	rep, err := e.nc.RequestMsg(msg, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", endpoint, err)
	}
	return rep
}

// wantJSON checks that msg is a JSON reply and decodes it into v.
func wantJSON(t *testing.T, msg *nats.Msg, v any) {
	t.Helper()
	if code := replyCode(t, msg); code != codeOK {
		t.Fatalf("code %d: %s", code, msg.Header.Get("Nats-Service-Error"))
	}
	if ct := msg.Header.Get("Content-Type"); ct != messages.ContentTypeJSON {
		t.Fatalf("Content-Type %q on %s", ct, msg.Data)
	}
	if err := json.Unmarshal(msg.Data, v); err != nil {
		t.Fatalf("reply %s: %v", msg.Data, err)
	}
}

func TestJSONEndpoints(t *testing.T) {
	e := startFake(t, Config{}, newFakeLog())
	var ar struct {
		FirstOffset *uint64 `json:"first_offset"`
		LastOffset  *uint64 `json:"last_offset"`
	}
	wantJSON(t, e.requestJSON(t, "append", ` {"records":[{"value":"hello"},{"value":"world","key":"k"}]}`, false), &ar)
	if ar.FirstOffset == nil || *ar.FirstOffset != 0 || *ar.LastOffset != 1 {
		t.Fatalf("append reply %+v", ar)
	}
	// The header alone makes a body JSON.
	wantJSON(t, e.requestJSON(t, "append", "\n{\"records\":[{\"value_base64\":\"/w==\"}]}", true), &ar)
	if *ar.FirstOffset != 2 {
		t.Fatalf("second append reply first %d", *ar.FirstOffset)
	}

	var rr struct {
		Records []struct {
			Value       *string `json:"value"`
			ValueBase64 *string `json:"value_base64"`
			Key         *string `json:"key"`
			Offset      uint64  `json:"offset"`
		}
		NextOffset uint64 `json:"next_offset"`
	}
	msg := e.requestJSON(t, "read", `{"offset":0,"max_records":10}`, false)
	wantJSON(t, msg, &rr)
	if len(rr.Records) != 3 || *rr.Records[0].Value != "hello" || *rr.Records[1].Key != "k" || rr.NextOffset != 3 {
		t.Fatalf("read reply %s", msg.Data)
	}
	if !bytes.Contains(msg.Data, []byte(`"value_base64":"/w=="`)) {
		t.Fatalf("a value that is not text is not base64: %s", msg.Data)
	}

	var tr struct {
		LowestOffset *uint64 `json:"lowest_offset"`
	}
	wantJSON(t, e.requestJSON(t, "truncate", `{"lowest":0}`, false), &tr)
	if tr.LowestOffset == nil || *tr.LowestOffset != 0 {
		t.Fatalf("truncate reply %+v", tr)
	}

	var info struct {
		NextOffset uint64 `json:"next_offset"`
		Segments   uint64 `json:"segments"`
	}
	wantJSON(t, e.requestJSON(t, "info", `{}`, false), &info)
	if info.NextOffset != 3 || info.Segments != 1 {
		t.Fatalf("info %+v", info)
	}
	// An empty info body stays msgpack.
	msg = e.requestJSON(t, "info", "", false)
	var mi messages.InfoReply
	if err := messages.Unmarshal(msg.Data, &mi); err != nil || mi.NextOffset != 3 || msg.Header.Get("Content-Type") != "" {
		t.Fatalf("msgpack info: %+v %v, Content-Type %q", mi, err, msg.Header.Get("Content-Type"))
	}
}

func TestJSONErrors(t *testing.T) {
	e := startFake(t, Config{MaxBatchRecords: 2}, newFakeLog())
	for _, tc := range []struct {
		endpoint, body string
		want           int
	}{
		{"append", `{"records":[{"value":"a"}`, messages.CodeBadRequest},
		{"append", `{"records":[]}`, messages.CodeBadRequest},
		{"append", `{"records":[{"value":"a"},{"value":"b"},{"value":"c"}]}`, messages.CodeTooLarge},
		{"read", `{"offset":"zero"}`, messages.CodeBadRequest},
		{"read", `{"max_records":1}`, messages.CodeBadRequest},
		{"read", `{"offset":5}`, messages.CodeOffsetOutOfRange},
		{"truncate", `{"lowest":-1}`, messages.CodeBadRequest},
	} {
		msg := e.requestJSON(t, tc.endpoint, tc.body, false)
		if code := replyCode(t, msg); code != tc.want || len(msg.Data) != 0 {
			t.Errorf("%s %s: code %d, %d bytes; want %d and an empty body", tc.endpoint, tc.body, code, len(msg.Data), tc.want)
		}
	}
}

// TestJSONCommitPath: appends held by the log and committed in one group
// are each answered in their own request's format, and so is a parked
// read woken by them.
func TestJSONCommitPath(t *testing.T) {
	log := newFakeLog()
	log.hold = true
	e := startFake(t, Config{}, log)
	sub, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.nc.PublishRequest("evlog.read", sub.Subject, []byte(`{"offset":0,"max_records":10,"wait_ms":10000}`)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a parked read", func() bool { return e.svc.Stats().ParkedReads == 1 })
	jsonReplies, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	mpReplies, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	mp, _ := messages.Marshal(appendReq("b"))
	if err := e.nc.PublishRequest("evlog.append", jsonReplies.Subject, []byte(`{"records":[{"value":"a"}]}`)); err != nil {
		t.Fatal(err)
	}
	if err := e.nc.PublishRequest("evlog.append", mpReplies.Subject, mp); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "two appends held", func() bool { return e.svc.Stats().PendingAppends == 2 })
	log.release()

	m, err := jsonReplies.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ar map[string]uint64
	wantJSON(t, m, &ar)
	if string(m.Data) != `{"first_offset":0,"last_offset":0}` {
		t.Fatalf("JSON append reply %s", m.Data)
	}
	m, err = mpReplies.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep messages.AppendReply
	if err := messages.Unmarshal(m.Data, &rep); err != nil || rep.FirstOffset != 1 || m.Header.Get("Content-Type") != "" {
		t.Fatalf("msgpack append reply in the same group: %+v %v", rep, err)
	}
	m, err = sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rr struct{ Records []struct{ Value string } }
	wantJSON(t, m, &rr)
	if len(rr.Records) != 2 || rr.Records[0].Value != "a" || rr.Records[1].Value != "b" {
		t.Fatalf("woken JSON read %s", m.Data)
	}
}

// TestJSONReadFitsPayload: a JSON read reply stays within the
// connection's max payload even when every byte needs base64 or escaping,
// and a record read alone is returned if its JSON fits.
func TestJSONReadFitsPayload(t *testing.T) {
	const payload = 8 << 10
	log := newFakeLog()
	e := startFakeOn(t, servicetest.NATS(t, func(o *server.Options) { o.MaxPayload = payload }), Config{}, log)
	// Control characters: valid UTF-8, each escaped to six bytes.
	ctl := strings.Repeat("\x01", 500)
	for range 20 {
		e.request(t, "append", appendReq(ctl))
	}
	msg := e.requestJSON(t, "read", `{"offset":0,"max_records":20}`, false)
	var rr struct{ Records []json.RawMessage }
	wantJSON(t, msg, &rr)
	if len(msg.Data) > payload || len(rr.Records) == 0 {
		t.Fatalf("JSON read: %d records in %d bytes, payload %d", len(rr.Records), len(msg.Data), payload)
	}
	// The same read in msgpack returns more.
	code, body := e.request(t, "read", &messages.ReadRequest{Offset: 0, MaxRecords: 20})
	var mr messages.ReadReply
	if err := messages.Unmarshal(body, &mr); code != codeOK || err != nil || len(mr.Records) <= len(rr.Records) {
		t.Fatalf("msgpack read: %d records (%v), JSON %d", len(mr.Records), err, len(rr.Records))
	}

	// Text larger than the JSON budget, alone, comes back since it fits.
	text := strings.Repeat("t", payload/2)
	e.request(t, "append", appendReq(text))
	msg = e.requestJSON(t, "read", `{"offset":20,"max_records":5}`, false)
	var one struct{ Records []struct{ Value string } }
	wantJSON(t, msg, &one)
	if len(one.Records) != 1 || one.Records[0].Value != text {
		t.Fatalf("large text record in JSON: %d records", len(one.Records))
	}
	// Escapes that would not fit get 413, and the record reads in msgpack.
	e.request(t, "append", appendReq(strings.Repeat("\x01", payload/2)))
	msg = e.requestJSON(t, "read", `{"offset":21}`, false)
	if code := replyCode(t, msg); code != messages.CodeTooLarge || !strings.Contains(msg.Header.Get("Nats-Service-Error"), "msgpack") {
		t.Fatalf("record whose JSON exceeds the payload: %d %q", code, msg.Header.Get("Nats-Service-Error"))
	}
	if code, _ := e.request(t, "read", &messages.ReadRequest{Offset: 21}); code != codeOK {
		t.Fatalf("the same record in msgpack: %d", code)
	}
}
