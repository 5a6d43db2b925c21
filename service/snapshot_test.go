package service

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment/snapshot"
	"github.com/evlog/evlog/service/servicetest"
)

// snapshotRequester is the requester's side of a snapshot: the inbox the
// chunks arrive on.
type snapshotRequester struct {
	t   *testing.T
	nc  *nats.Conn
	sub *nats.Subscription
}

// requestSnapshot asks for a snapshot with body on nc.
func requestSnapshot(t *testing.T, nc *nats.Conn, body []byte) *snapshotRequester {
	t.Helper()
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	if err := nc.PublishRequest(messages.DefaultPrefix+".snapshot", inbox, body); err != nil {
		t.Fatal(err)
	}
	return &snapshotRequester{t: t, nc: nc, sub: sub}
}

func snapshotBody(t *testing.T, from uint64) []byte {
	t.Helper()
	b, err := messages.Marshal(messages.SnapshotRequest{From: from})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// next returns the next chunk, failing the test after timeout.
func (r *snapshotRequester) next(timeout time.Duration) *nats.Msg {
	r.t.Helper()
	msg, err := r.sub.NextMsg(timeout)
	if err != nil {
		r.t.Fatalf("next chunk: %v", err)
	}
	return msg
}

// ack acknowledges chunk msg.
func (r *snapshotRequester) ack(msg *nats.Msg) {
	r.t.Helper()
	if err := msg.Respond([]byte(msg.Header.Get(messages.SnapshotSeqHeader))); err != nil {
		r.t.Fatal(err)
	}
}

// collect receives and acknowledges the chunks, in order, until the last,
// calling each (if not nil) before acknowledging; it returns the stream
// and the code of an error chunk (200 for a complete stream).
func (r *snapshotRequester) collect(each func(seq int, msg *nats.Msg)) ([]byte, int) {
	r.t.Helper()
	var stream bytes.Buffer
	for seq := 0; ; seq++ {
		msg := r.next(5 * time.Second)
		if code := replyCode(r.t, msg); code != codeOK {
			return stream.Bytes(), code
		}
		if got := msg.Header.Get(messages.SnapshotSeqHeader); got != strconv.Itoa(seq) {
			r.t.Fatalf("chunk %d has sequence number %q", seq, got)
		}
		stream.Write(msg.Data)
		if each != nil {
			each(seq, msg)
		}
		r.ack(msg)
		if end := msg.Header.Get(messages.SnapshotEndHeader); end != "" {
			if end != strconv.Itoa(stream.Len()) {
				r.t.Fatalf("end header says %s bytes, the chunks hold %d", end, stream.Len())
			}
			return stream.Bytes(), codeOK
		}
	}
}

// readSnapshot checks stream with segment/snapshot's Reader and returns
// its header and records.
func readSnapshot(t *testing.T, stream []byte) (snapshot.Header, []*messages.Record) {
	t.Helper()
	sr, err := snapshot.NewReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	var recs []*messages.Record
	for {
		rec, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return sr.Header(), recs
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
}

// fillFake appends n records of size bytes, with keys and headers, to the
// service of e, and returns what was appended.
func fillFake(t *testing.T, e *fakeEnv, n, size int) []messages.Record {
	t.Helper()
	var all []messages.Record
	for i := 0; i < n; {
		ar := &messages.AppendRequest{}
		// Half the payload limit leaves room for the keys and headers.
		for held := 0; i < n && len(ar.Records) < 64 && held+size < int(e.nc.MaxPayload())/2; i++ {
			held += size
			ar.Records = append(ar.Records, messages.Record{
				Value:   bytes.Repeat([]byte{byte(i)}, size),
				Key:     []byte("k" + strconv.Itoa(i%7)),
				Headers: map[string]string{"n": strconv.Itoa(i)},
			})
		}
		if code, _ := e.request(t, "append", ar); code != codeOK {
			t.Fatalf("append: %d", code)
		}
		all = append(all, ar.Records...)
	}
	return all
}

// smallPayload is a NATS server whose messages carry at most 8 KiB, so
// that a small log streams in many chunks.
func smallPayload(o *server.Options) { o.MaxPayload = 8 << 10 }

func TestSnapshotStream(t *testing.T) {
	log := newFakeLog()
	log.id = [16]byte{1, 2, 3}
	e := startFakeOn(t, servicetest.NATS(t, smallPayload), Config{}, log)
	want := fillFake(t, e, 500, 300)
	events, err := e.nc.SubscribeSync("evlog.events")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	r := requestSnapshot(t, e.nc, nil)
	chunks := 0
	stream, code := r.collect(func(seq int, msg *nats.Msg) {
		chunks++
		if len(msg.Data) == 0 || len(msg.Data) > int(e.nc.MaxPayload())-snapshotHeadroom {
			t.Errorf("chunk %d holds %d bytes; the payload limit is %d", seq, len(msg.Data), e.nc.MaxPayload())
		}
		if seq == 0 && (msg.Header.Get(messages.SnapshotFirstHeader) != "0" || msg.Header.Get(messages.SnapshotNextHeader) != "500") {
			t.Errorf("chunk 0 headers %v", msg.Header)
		}
	})
	if code != codeOK {
		t.Fatalf("snapshot ended with %d", code)
	}
	if chunks < 10 {
		t.Fatalf("%d bytes came in %d chunks", len(stream), chunks)
	}
	h, got := readSnapshot(t, stream)
	if h != (snapshot.Header{LogID: log.id, First: 0, Next: 500}) || len(got) != len(want) {
		t.Fatalf("header %+v, %d records", h, len(got))
	}
	for i, rec := range got {
		w := want[i]
		if rec.Offset != uint64(i) || !bytes.Equal(rec.Value, w.Value) || !bytes.Equal(rec.Key, w.Key) || rec.Headers["n"] != w.Headers["n"] {
			t.Fatalf("record %d: %+v", i, rec)
		}
	}
	waitUntil(t, "the snapshot goroutine to end", func() bool { return e.svc.snapshots.running() == 0 })
	if n := e.svc.metrics.snapshotBytes.Load(); n != uint64(len(stream)) {
		t.Fatalf("snapshot_bytes_total %d, stream %d", n, len(stream))
	}
	if n := e.svc.metrics.requests[epSnapshot][0].Load(); n != 1 {
		t.Fatalf("%d snapshots counted", n)
	}
	if ev := nextEvent(t, events); ev.Type != messages.EventSnapshot || ev.FirstOffset != 0 || ev.LastOffset != 499 || ev.Bytes != uint64(len(stream)) {
		t.Fatalf("snapshot event %+v, want records 0 to 499 and %d bytes", ev, len(stream))
	}
}

func TestSnapshotRange(t *testing.T) {
	e := startFake(t, Config{}, newFakeLog())
	fillFake(t, e, 20, 10)
	if _, err := e.svc.log.TruncateFront(5); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		body        []byte
		first, next uint64
		code        int
	}{
		{"empty body is the whole log", nil, 5, 20, codeOK},
		{"below the lowest starts there", snapshotBody(t, 2), 5, 20, codeOK},
		{"incremental", snapshotBody(t, 12), 12, 20, codeOK},
		{"JSON", []byte(`{"from": 19}`), 19, 20, codeOK},
		{"at the committed offset is empty", snapshotBody(t, 20), 20, 20, codeOK},
		{"beyond the committed offset", snapshotBody(t, 21), 0, 0, messages.CodeOffsetOutOfRange},
		{"malformed", []byte{0x81, 0xa4, 'f', 'r', 'o', 'm', 0xa1, 'x'}, 0, 0, messages.CodeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stream, code := requestSnapshot(t, e.nc, tc.body).collect(nil)
			if code != tc.code {
				t.Fatalf("code %d, want %d", code, tc.code)
			}
			if code != codeOK {
				return
			}
			h, recs := readSnapshot(t, stream)
			if h.First != tc.first || h.Next != tc.next || uint64(len(recs)) != tc.next-tc.first {
				t.Fatalf("header %+v with %d records, want [%d, %d)", h, len(recs), tc.first, tc.next)
			}
		})
	}
}

// TestSnapshotExactCut streams a snapshot while appends go on: it holds
// exactly the records committed when it was requested.
func TestSnapshotExactCut(t *testing.T) {
	e := startFakeOn(t, servicetest.NATS(t, smallPayload), Config{}, newFakeLog())
	fillFake(t, e, 300, 200)
	r := requestSnapshot(t, e.nc, nil)
	var wg sync.WaitGroup
	defer wg.Wait()
	appended := make(chan int, 1)
	stream, code := r.collect(func(seq int, msg *nats.Msg) {
		if seq == 0 {
			// Append while the rest of the snapshot is still to come.
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := 0
				for range 20 {
					if _, err := e.nc.Request(messages.DefaultPrefix+".append", mustMarshal(t, appendReq("late", "later")), 5*time.Second); err == nil {
						n += 2
					}
				}
				appended <- n
			}()
			if n := <-appended; n == 0 {
				t.Error("no appends during the snapshot")
			}
		}
	})
	if code != codeOK {
		t.Fatalf("code %d", code)
	}
	h, recs := readSnapshot(t, stream)
	if h.First != 0 || h.Next != 300 || len(recs) != 300 {
		t.Fatalf("header %+v, %d records; want exactly [0, 300)", h, len(recs))
	}
	if got := e.svc.CommittedOffset(); got != 340 {
		t.Fatalf("committed %d, want 340", got)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := messages.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSnapshotAbandoned stops acknowledging: the service sends no more
// than its window, gives the snapshot up after the timeout, says so in an
// error chunk and counts it, and its heap does not grow meanwhile.
func TestSnapshotAbandoned(t *testing.T) {
	log := newFakeLog()
	e := startFake(t, Config{SnapshotAckTimeout: 300 * time.Millisecond}, log)
	// About 48 MiB in 1 MiB chunks: far more than the window.
	fillFake(t, e, 192, 256<<10)
	before := heapAlloc()

	r := requestSnapshot(t, e.nc, nil)
	for seq := 0; seq < snapshotWindow; seq++ {
		if msg := r.next(5 * time.Second); replyCode(t, msg) != codeOK {
			t.Fatalf("chunk %d is an error", seq)
		}
	}
	// The window is full: while the requester is silent the service
	// stalls, holding one chunk and a batch, not the log.
	time.Sleep(100 * time.Millisecond)
	if e.svc.snapshots.running() != 1 {
		t.Fatal("the snapshot is not running")
	}
	if grown := int64(heapAlloc()) - int64(before); grown > 16<<20 {
		t.Fatalf("the heap grew by %d bytes while the snapshot stalled", grown)
	}
	msg := r.next(5 * time.Second)
	if code := replyCode(t, msg); code != messages.CodeUnavailable {
		t.Fatalf("after the window came code %d, %d bytes", code, len(msg.Data))
	}
	if msg.Header.Get(messages.SnapshotSeqHeader) != strconv.Itoa(snapshotWindow) {
		t.Fatalf("error chunk numbered %q", msg.Header.Get(messages.SnapshotSeqHeader))
	}
	waitUntil(t, "the snapshot goroutine to end", func() bool { return e.svc.snapshots.running() == 0 })
	if n := e.svc.metrics.snapshotsAbandoned.Load(); n != 1 {
		t.Fatalf("snapshots_abandoned_total %d", n)
	}
	if n := e.svc.metrics.snapshotBytes.Load(); n > snapshotWindow*snapshotMaxChunk {
		t.Fatalf("sent %d bytes to a requester that acknowledged nothing", n)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestSnapshotCancelled gives up with an empty acknowledgement: the
// service ends the snapshot at once, without waiting for the timeout.
func TestSnapshotCancelled(t *testing.T) {
	e := startFakeOn(t, servicetest.NATS(t, smallPayload), Config{SnapshotAckTimeout: time.Hour}, newFakeLog())
	fillFake(t, e, 200, 200)
	r := requestSnapshot(t, e.nc, nil)
	msg := r.next(5 * time.Second)
	if err := msg.Respond(nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the snapshot goroutine to end", func() bool { return e.svc.snapshots.running() == 0 })
	if n := e.svc.metrics.snapshotsAbandoned.Load(); n != 1 {
		t.Fatalf("snapshots_abandoned_total %d", n)
	}
}

// TestSnapshotLimit refuses more snapshots than MaxSnapshots with 503,
// and Stop ends those that stream, with a 503 chunk.
func TestSnapshotLimit(t *testing.T) {
	ns := servicetest.NATS(t, smallPayload)
	log := newFakeLog()
	e := startFakeOn(t, ns, Config{MaxSnapshots: 1, SnapshotAckTimeout: time.Hour}, log)
	fillFake(t, e, 200, 200)
	first := requestSnapshot(t, e.nc, nil)
	if msg := first.next(5 * time.Second); replyCode(t, msg) != codeOK {
		t.Fatal("first snapshot refused")
	}
	if _, code := requestSnapshot(t, e.nc, nil).collect(nil); code != messages.CodeUnavailable {
		t.Fatalf("second snapshot: code %d", code)
	}
	if err := e.svc.Stop(); err != nil {
		t.Fatal(err)
	}
	for {
		msg := first.next(5 * time.Second)
		if code := replyCode(t, msg); code != codeOK {
			if code != messages.CodeUnavailable {
				t.Fatalf("stopped snapshot ended with %d", code)
			}
			break
		}
	}
	if n := e.svc.snapshots.running(); n != 0 {
		t.Fatalf("%d snapshots still running after Stop", n)
	}
}

// TestSnapshotDamage ends the stream with a 500 chunk at a damaged
// record: what came before it is no valid snapshot.
func TestSnapshotDamage(t *testing.T) {
	log := newFakeLog()
	e := startFakeOn(t, servicetest.NATS(t, smallPayload), Config{}, log)
	fillFake(t, e, 100, 200)
	log.mu.Lock()
	log.damaged = map[uint64]bool{60: true}
	log.mu.Unlock()
	stream, code := requestSnapshot(t, e.nc, nil).collect(nil)
	if code != messages.CodeInternal {
		t.Fatalf("code %d", code)
	}
	sr, err := snapshot.NewReader(bytes.NewReader(stream))
	for err == nil {
		_, err = sr.Next()
	}
	if !errors.Is(err, snapshot.ErrTruncated) {
		t.Fatalf("the stream before the error reads as %v", err)
	}
}

func TestSnapshotConfig(t *testing.T) {
	c := DefaultConfig()
	if c.MaxSnapshots != DefaultMaxSnapshots || c.SnapshotAckTimeout != DefaultSnapshotAckTimeout {
		t.Fatalf("defaults: %+v", c)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.MaxSnapshots = -1 },
		func(c *Config) { c.MaxSnapshots = maxLimit + 1 },
		func(c *Config) { c.SnapshotAckTimeout = -time.Second },
	} {
		c := DefaultConfig()
		mod(&c)
		if err := c.validate(); !errors.Is(err, ErrConfig) {
			t.Fatalf("%+v: %v", c, fmt.Sprint(err))
		}
	}
}
