package e2e

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
)

// appendID appends records with id and returns the reply.
func appendID(t *testing.T, c *client.Client, id string, recs ...messages.Record) messages.AppendReply {
	t.Helper()
	rep, err := c.AppendWith(ctxT(t), recs, client.WithID(id))
	if err != nil {
		t.Fatalf("append %s: %v", id, err)
	}
	return rep
}

// checkDuplicate retries id with other content and checks that it is
// answered with want's offsets, as a duplicate, and appends nothing.
func checkDuplicate(t *testing.T, c *client.Client, id string, want messages.AppendReply, when string) {
	t.Helper()
	before, err := c.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	got := appendID(t, c, id, rec([]byte("other content")))
	if !got.Duplicate || got.FirstOffset != want.FirstOffset || got.LastOffset != want.LastOffset {
		t.Fatalf("%s: retry of %s answered %+v, want the offsets of %+v as a duplicate", when, id, got, want)
	}
	after, err := c.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if after.NextOffset != before.NextOffset {
		t.Fatalf("%s: the retry of %s appended (next offset %d -> %d)", when, id, before.NextOffset, after.NextOffset)
	}
}

// TestBinaryIdempotentAcrossRestartAndKill: a retried append is answered
// as a duplicate with its offsets by the real binary, before and after a
// graceful restart and after kill -9.
func TestBinaryIdempotentAcrossRestartAndKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	start := func() (*proc, *client.Client) {
		p := startBinary(t, bin, dir)
		nc := connect(t, p.url)
		return p, client.New(nc)
	}

	p, c := start()
	first := appendID(t, c, "order-1", rec(val(0)), rec(val(1)), rec(val(2)))
	if first.Duplicate || first.FirstOffset != 0 || first.LastOffset != 2 {
		t.Fatalf("first append %+v", first)
	}
	checkDuplicate(t, c, "order-1", first, "same process")
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, p.stderr)
	}

	p, c = start()
	checkDuplicate(t, c, "order-1", first, "after a graceful restart")
	second := appendID(t, c, "order-2", rec(val(3)))
	if _, err := c.Append(ctxT(t), rec(val(4))); err != nil {
		t.Fatal(err)
	}
	if err := p.signal(t, syscall.SIGKILL); err == nil {
		t.Fatal("evlog exited cleanly after SIGKILL")
	}

	_, c = start()
	checkDuplicate(t, c, "order-1", first, "after kill -9")
	checkDuplicate(t, c, "order-2", second, "after kill -9")
	// The id is visible to readers, on the batch's first record.
	rr, err := c.Read(ctxT(t), 0, client.ReadOptions{MaxRecords: 1})
	if err != nil {
		t.Fatal(err)
	}
	h := rr.Records[0].Headers
	if h[messages.IDHeader] != "order-1" || h[messages.BatchRecordsHeader] != "3" {
		t.Fatalf("first record's headers %v", h)
	}
}

// TestConcurrentRetriesOneID: many retries of one id in flight at once
// get one set of offsets, and the log holds the records once.
func TestConcurrentRetriesOneID(t *testing.T) {
	e := newEnv(t, service.Config{})
	const n = 32
	reps := make([]messages.AppendReply, n)
	var wg sync.WaitGroup
	for i := range reps {
		wg.Go(func() {
			rep, err := e.c.AppendWith(ctxT(t), []messages.Record{rec(val(i)), rec(val(i))}, client.WithID("once"))
			if err != nil {
				t.Error(err)
			}
			reps[i] = rep
		})
	}
	wg.Wait()
	dups := 0
	for _, r := range reps {
		if r.FirstOffset != 0 || r.LastOffset != 1 {
			t.Fatalf("a retry got offsets %d-%d, want 0-1", r.FirstOffset, r.LastOffset)
		}
		if r.Duplicate {
			dups++
		}
	}
	if dups != n-1 {
		t.Fatalf("%d duplicates of %d appends, want %d", dups, n, n-1)
	}
	info, err := e.c.Info(ctxT(t))
	if err != nil || info.NextOffset != 2 {
		t.Fatalf("info %+v, %v", info, err)
	}
}

// TestNatsMsgIDHeader: a plain nats.go request with JetStream's header is
// deduplicated, in msgpack and in JSON, and the header and the body must
// agree.
func TestNatsMsgIDHeader(t *testing.T) {
	e := newEnv(t, service.Config{})
	subj := e.c.Subjects().Append
	body, err := messages.Marshal(messages.AppendRequest{Records: []messages.Record{rec([]byte("x"))}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(data []byte, h nats.Header) *nats.Msg {
		t.Helper()
		m, err := e.nc.RequestMsg(&nats.Msg{Subject: subj, Data: data, Header: h}, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	var reps [2]messages.AppendReply
	for i := range reps {
		m := send(body, nats.Header{messages.IDHeader: []string{"hdr-1"}})
		if err := messages.Unmarshal(m.Data, &reps[i]); err != nil {
			t.Fatalf("reply %d: %v (%v)", i, err, m.Header)
		}
	}
	if reps[0].Duplicate || !reps[1].Duplicate || reps[0].FirstOffset != reps[1].FirstOffset {
		t.Fatalf("replies %+v", reps)
	}
	// The header and the body's id are one id.
	viaBody := appendID(t, e.c, "hdr-1", rec([]byte("y")))
	if !viaBody.Duplicate || viaBody.FirstOffset != reps[0].FirstOffset {
		t.Fatalf("body id after header id: %+v", viaBody)
	}
	js := send([]byte(`{"records":[{"value":"z"}]}`), nats.Header{messages.IDHeader: []string{"hdr-1"}, "Content-Type": []string{messages.ContentTypeJSON}})
	if !bytes.Contains(js.Data, []byte(`"duplicate":true`)) {
		t.Fatalf("JSON retry answered %q %v", js.Data, js.Header)
	}
	for name, h := range map[string]nats.Header{
		"differs":   {messages.IDHeader: []string{"other"}},
		"129 bytes": {messages.IDHeader: []string{strings.Repeat("h", 129)}},
	} {
		data := body
		if name == "differs" {
			data, _ = messages.Marshal(messages.AppendRequest{Records: []messages.Record{rec([]byte("x"))}, ID: "hdr-1"})
		}
		if code := send(data, h).Header.Get("Nats-Service-Error-Code"); code != "400" {
			t.Errorf("%s: code %q, want 400", name, code)
		}
	}
}

func TestBadIDsRefused(t *testing.T) {
	e := newEnv(t, service.Config{})
	subj := e.c.Subjects().Append
	mp := func(v map[string]any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	recs := []map[string]any{{"value": []byte("a")}}
	for name, body := range map[string][]byte{
		"empty":             mp(map[string]any{"records": recs, "id": ""}),
		"129 bytes":         mp(map[string]any{"records": recs, "id": strings.Repeat("i", 129)}),
		"integer":           mp(map[string]any{"records": recs, "id": 5}),
		"json empty":        []byte(`{"records":[{"value":"a"}],"id":""}`),
		"json number":       []byte(`{"records":[{"value":"a"}],"id":5}`),
		"json 129 bytes":    []byte(`{"records":[{"value":"a"}],"id":"` + strings.Repeat("i", 129) + `"}`),
		"reserved header":   mp(map[string]any{"records": []map[string]any{{"value": []byte("a"), "headers": map[string]string{messages.IDHeader: "x"}}}}),
		"negative expected": []byte(`{"records":[{"value":"a"}],"expected_offset":-1}`),
	} {
		m, err := e.nc.Request(subj, body, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if code := m.Header.Get("Nats-Service-Error-Code"); code != "400" {
			t.Errorf("%s: code %q (%s), want 400", name, code, m.Header.Get("Nats-Service-Error"))
		}
	}
	info, _ := e.c.Info(ctxT(t))
	if info.NextOffset != 0 {
		t.Fatalf("bad requests appended: next offset %d", info.NextOffset)
	}
}

func TestExpectedOffset(t *testing.T) {
	e := newEnv(t, service.Config{})
	ctx := ctxT(t)
	if rep, err := e.c.AppendWith(ctx, []messages.Record{rec(val(0))}, client.WithExpectedOffset(0)); err != nil || rep.FirstOffset != 0 {
		t.Fatalf("expected offset 0 on an empty log: %+v, %v", rep, err)
	}
	_, err := e.c.AppendWith(ctx, []messages.Record{rec(val(1))}, client.WithExpectedOffset(0))
	var ce *client.Error
	if !errors.Is(err, client.ErrConflict) || !errors.As(err, &ce) || ce.NextOffset != 1 {
		t.Fatalf("stale expected offset: %v", err)
	}
	if !strings.Contains(ce.Description, "next offset is 1") {
		t.Errorf("description %q does not give the next offset", ce.Description)
	}
	// The raw reply: 409 and the header.
	body, _ := messages.Marshal(messages.AppendRequest{Records: []messages.Record{rec(val(1))}, ExpectedOffset: new(uint64)})
	m, err := e.nc.Request(e.c.Subjects().Append, body, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Nats-Service-Error-Code") != "409" || m.Header.Get(messages.NextOffsetHeader) != "1" {
		t.Fatalf("conflict reply headers %v", m.Header)
	}

	// A duplicate wins over the offset check.
	opts := []client.AppendOption{client.WithID("cond-1"), client.WithExpectedOffset(1)}
	first, err := e.c.AppendWith(ctx, []messages.Record{rec(val(1))}, opts...)
	if err != nil || first.FirstOffset != 1 {
		t.Fatalf("conditional append with id: %+v, %v", first, err)
	}
	retry, err := e.c.AppendWith(ctx, []messages.Record{rec(val(1))}, opts...)
	if err != nil || !retry.Duplicate || retry.FirstOffset != 1 {
		t.Fatalf("retry of an acknowledged conditional append: %+v, %v", retry, err)
	}
}

// TestClientRetry: WithRetry resends an append with an id through 503s
// with the same id each time, and does not resend one without an id.
func TestClientRetry(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	nc := connect(t, ns.ClientURL())
	var mu sync.Mutex
	var ids []string
	sub, err := nc.Subscribe("flaky.append", func(m *nats.Msg) {
		var req messages.AppendRequest
		if err := messages.Unmarshal(m.Data, &req); err != nil {
			t.Error(err)
		}
		mu.Lock()
		ids = append(ids, req.ID)
		n := len(ids)
		mu.Unlock()
		if n%3 != 0 {
			_ = m.RespondMsg(&nats.Msg{Header: nats.Header{"Nats-Service-Error-Code": []string{"503"}}})
			return
		}
		body, _ := messages.Marshal(messages.AppendReply{FirstOffset: 7, LastOffset: 7})
		_ = m.Respond(body)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	c := client.New(nc, client.WithPrefix("flaky"))
	policy := client.WithRetry(client.RetryPolicy{Attempts: 5, Backoff: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	rep, err := c.AppendWith(ctx, []messages.Record{rec([]byte("a"))}, client.WithGeneratedID(), policy)
	if err != nil || rep.FirstOffset != 7 {
		t.Fatalf("retried append: %+v, %v", rep, err)
	}
	mu.Lock()
	if len(ids) != 3 || ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("attempts carried ids %q, want three of one generated id", ids)
	}
	ids = nil
	mu.Unlock()

	if _, err := c.AppendWith(ctx, []messages.Record{rec([]byte("a"))}, policy); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("append without an id: %v, want the first 503", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 1 {
		t.Fatalf("an append without an id was sent %d times", len(ids))
	}
}
