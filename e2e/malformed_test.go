package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/servicetest"
)

// The service limits of the malformed-input tests, small so that the
// requests that break them stay small.
const (
	malMaxRecord = 2048
	malMaxBatch  = 32
)

// malOracle as a case's want means that the generator cannot tell the
// outcome (random bytes may be a valid request by chance): the model
// decodes the body and decides, as the protocol describes.
const malOracle = -1

// malCase is one generated request. want is the error code the protocol
// gives, 0 for a normal reply, or malOracle.
type malCase struct {
	kind    string
	subject string // append, read, truncate or info
	body    []byte
	want    int
}

// TestMalformedRequests floods the service with thousands of malformed
// requests on every subject: random bytes, random msgpack, wrong types,
// declared-length bombs, nesting too deep, negative and overflowing
// numbers, empty batches, oversized values, too many records, truncated
// bodies and trailing bytes. Every request with a reply subject must get
// the code the protocol gives (or, for one valid by chance, a normal reply)
// within its timeout, requests without a reply subject must be dropped,
// the service must never crash, and the log must end as it began, but for
// requests that were valid by chance, which are accounted for.
func TestMalformedRequests(t *testing.T) {
	// EVLOG_MALFORMED_SEED replays another flood.
	seed := uint64(4)
	if s := os.Getenv("EVLOG_MALFORMED_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("EVLOG_MALFORMED_SEED: %v", err)
		}
	}
	ns := servicetest.NATS(t, nil)
	var lc segment.Config // one segment: only truncating to the end deletes anything
	cfg := service.Config{MaxRecordBytes: malMaxRecord, MaxBatchRecords: malMaxBatch, MaxWait: 20 * time.Millisecond}
	startNode(t, ns.ClientURL(), t.TempDir(), lc, cfg)
	nc := connect(t, ns.ClientURL())
	m := &malModel{nc: nc}
	for i := range 40 {
		r := messages.Record{Value: val(i)}
		if i%3 == 0 {
			r.Key = fmt.Appendf(nil, "k%d", i)
			r.Headers = map[string]string{"i": strconv.Itoa(i)}
		}
		body, err := messages.Marshal(&messages.AppendRequest{Records: []messages.Record{r}})
		if err != nil {
			t.Fatal(err)
		}
		m.send(t, malCase{kind: "setup", subject: "append", body: body, want: 0})
	}
	before := m.info(t)
	counts := map[string]map[int]int{} // by kind, then code
	total := 0
	count := func(kind string, code int) {
		if counts[kind] == nil {
			counts[kind] = map[int]int{}
		}
		counts[kind][code]++
		total++
	}

	// Sequential: the model follows every request, so that even those
	// valid by chance have a known outcome.
	g := &malGen{rnd: rand.New(rand.NewPCG(seed, 1))}
	for range 3000 {
		c := g.any(m.next)
		count(c.kind, m.send(t, c))
	}

	// Concurrent: kinds whose outcome does not depend on the log.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := &malGen{rnd: rand.New(rand.NewPCG(seed, uint64(10+w)))}
			for range 250 {
				c := g.stateless()
				code, err := malRequest(nc, c)
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, err.Error())
				case code != c.want:
					errs = append(errs, fmt.Sprintf("%s on %s: code %d, want %d: %x", c.kind, c.subject, code, c.want, malShort(c.body)))
				default:
					count(c.kind, code)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d concurrent requests went wrong, the first: %s", len(errs), errs[0])
	}

	// No reply subject: dropped, whatever they hold.
	g = &malGen{rnd: rand.New(rand.NewPCG(seed, 2))}
	for range 1000 {
		c := g.stateless()
		if err := nc.Publish("evlog."+c.subject, c.body); err != nil {
			t.Fatal(err)
		}
		count("no reply subject", -1)
	}
	// Each endpoint handles its requests in order: one more request to
	// each, answered, means it has been through the ones without reply.
	for _, subject := range []string{"append", "read", "truncate"} {
		count("sync", m.send(t, malCase{kind: "sync", subject: subject, body: []byte{0xc1}, want: 400}))
	}

	// Bombs: a few bytes that declare billions. 400, and the heap stays
	// where it was.
	g = &malGen{rnd: rand.New(rand.NewPCG(seed, 3))}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	const bombs = 400
	var bombBytes int
	for range bombs {
		c := g.bomb()
		for c.subject == "info" {
			c = g.bomb()
		}
		bombBytes += len(c.body)
		count(c.kind, m.send(t, c))
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	growth := int64(ms1.HeapAlloc) - int64(ms0.HeapAlloc)
	allocated := ms1.TotalAlloc - ms0.TotalAlloc
	t.Logf("%d bombs (%d bytes in all, claiming up to 4 GiB each): heap grew by %d KiB, %d KiB allocated in all (%d bytes a request, client and NATS server included)",
		bombs, bombBytes, growth>>10, allocated>>10, allocated/bombs)
	if growth > 4<<20 {
		t.Fatalf("heap grew by %d bytes over %d bombs", growth, bombs)
	}
	if allocated/bombs > 256<<10 {
		t.Fatalf("%d bytes allocated a bomb: something allocates what the bombs declare", allocated/bombs)
	}

	// The log is as it was, but for what requests valid by chance did.
	after := m.info(t)
	want := before
	want.NextOffset += m.appended
	want.LowestOffset = m.lowest
	if after.LowestOffset != want.LowestOffset || after.NextOffset != want.NextOffset || after.Segments != want.Segments ||
		(m.appended == 0 && m.lowest == before.LowestOffset && after.Bytes != before.Bytes) {
		t.Fatalf("info %+v after the flood, want %+v (%d records appended by valid requests)", after, want, m.appended)
	}
	for off := m.lowest; off < m.next; off++ {
		m.send(t, malCase{kind: "verify", subject: "read", body: malReadBody(off), want: 0})
	}

	var lines []string
	byCode := map[int]int{}
	for kind, codes := range counts {
		var parts []string
		for code, n := range codes {
			byCode[code] += n
			parts = append(parts, fmt.Sprintf("%s %d", malCodeName(code), n))
		}
		sort.Strings(parts)
		lines = append(lines, fmt.Sprintf("  %-18s %s", kind, strings.Join(parts, ", ")))
	}
	sort.Strings(lines)
	var summary []string
	for _, code := range slices.Sorted(maps.Keys(byCode)) {
		summary = append(summary, fmt.Sprintf("%s %d", malCodeName(code), byCode[code]))
	}
	t.Logf("%d generated requests (seed %d): %s; %d valid by chance (%d records appended); 0 crashes, 0 timeouts\n%s",
		total, seed, strings.Join(summary, ", "), m.valid, m.appended, strings.Join(lines, "\n"))
}

func malCodeName(code int) string {
	switch code {
	case -1:
		return "dropped"
	case 0:
		return "ok"
	}
	return strconv.Itoa(code)
}

func malShort(b []byte) []byte { return b[:min(len(b), 64)] }

// malRequest sends c and returns the error code of the reply, 0 for a
// normal one. A request the service does not answer in time is an error.
func malRequest(nc *nats.Conn, c malCase) (int, error) {
	msg, err := nc.Request("evlog."+c.subject, c.body, 5*time.Second)
	if err != nil {
		return 0, fmt.Errorf("%s on %s: %w (body %x)", c.kind, c.subject, err, malShort(c.body))
	}
	h := msg.Header.Get("Nats-Service-Error-Code")
	if h == "" {
		return 0, nil
	}
	code, err := strconv.Atoi(h)
	if err != nil || msg.Header.Get("Nats-Service-Error") == "" || len(msg.Data) != 0 {
		return 0, fmt.Errorf("%s on %s: malformed error reply %q %q %x", c.kind, c.subject, h, msg.Header.Get("Nats-Service-Error"), msg.Data)
	}
	return code, nil
}

// malModel is what the log holds, as the requests so far leave it.
type malModel struct {
	nc           *nats.Conn
	lowest, next uint64
	stored       map[uint64][]byte // the encoding of every record
	appended     uint64            // records appended by valid requests
	valid        int               // requests valid by chance
}

// expect decides the outcome of body on subject as the protocol says.
// Near the record size limit either outcome is right (the service bounds
// the size from above), and ambiguous says so.
func (m *malModel) expect(subject string, body []byte) (code int, ambiguous bool) {
	switch subject {
	case "info":
		return 0, false
	case "read":
		var rr messages.ReadRequest
		if messages.Unmarshal(body, &rr) != nil {
			return 400, false
		}
		if rr.Offset < m.lowest || rr.Offset > m.next {
			return 404, false
		}
		return 0, false
	case "truncate":
		var tr messages.TruncateRequest
		if messages.Unmarshal(body, &tr) != nil {
			return 400, false
		}
		if tr.Lowest > m.next {
			return 404, false
		}
		return 0, false
	}
	var ar messages.AppendRequest
	if messages.Unmarshal(body, &ar) != nil || len(ar.Records) == 0 {
		return 400, false
	}
	if len(ar.Records) > malMaxBatch {
		return 413, false
	}
	for _, r := range ar.Records {
		if len(r.Value) == 0 && len(r.Key) == 0 {
			return 400, false
		}
		b, err := messages.Marshal(&messages.Record{Value: r.Value, Key: r.Key, Headers: r.Headers,
			Offset: math.MaxUint64, Timestamp: math.MaxInt64})
		if err != nil {
			panic(err)
		}
		switch {
		case len(b) > malMaxRecord+64:
			return 413, false
		case len(b) > malMaxRecord-64:
			return 413, true
		}
	}
	return 0, false
}

// send sends c, checks the outcome against c.want and the model, checks
// a normal reply's content, and follows what it changed. It returns the
// code.
func (m *malModel) send(t *testing.T, c malCase) int {
	t.Helper()
	want, ambiguous := m.expect(c.subject, c.body)
	if c.want != malOracle && c.want != want && !ambiguous {
		t.Fatalf("test bug: %s on %s is meant to get %d, the model says %d: %x", c.kind, c.subject, c.want, want, malShort(c.body))
	}
	code, err := malRequest(m.nc, c)
	if err != nil {
		t.Fatal(err)
	}
	if code != want && !(ambiguous && code == 0) {
		t.Fatalf("%s on %s: code %d, want %d: %x", c.kind, c.subject, code, want, malShort(c.body))
	}
	if code != 0 {
		return code
	}
	if c.kind != "setup" && c.kind != "verify" && c.subject != "info" {
		m.valid++
	}
	m.check(t, c)
	return 0
}

// check verifies a normal reply to c by repeating it as a client would
// and reading what it returns.
func (m *malModel) check(t *testing.T, c malCase) {
	t.Helper()
	switch c.subject {
	case "append":
		var ar messages.AppendRequest
		if err := messages.Unmarshal(c.body, &ar); err != nil {
			t.Fatal(err)
		}
		// The reply was checked for its code only; the records must now
		// be at the end of the log, as sent.
		first := m.next
		m.next += uint64(len(ar.Records))
		if c.kind != "setup" {
			m.appended += uint64(len(ar.Records))
		}
		if m.stored == nil {
			m.stored = map[uint64][]byte{}
		}
		for i, sent := range ar.Records {
			off := first + uint64(i)
			msg, err := m.nc.Request("evlog.read", malReadBody(off), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var rr messages.ReadReply
			if err := messages.Unmarshal(msg.Data, &rr); err != nil || len(rr.Records) != 1 {
				t.Fatalf("read back %d after a valid %s: %v, %d records", off, c.kind, err, len(rr.Records))
			}
			r := rr.Records[0]
			if r.Offset != off || !bytes.Equal(r.Value, sent.Value) || !bytes.Equal(r.Key, sent.Key) || len(r.Headers) != len(sent.Headers) {
				t.Fatalf("record %d reads back as %+v, sent %+v", off, r, sent)
			}
			b, err := messages.Marshal(&r)
			if err != nil {
				t.Fatal(err)
			}
			m.stored[off] = b
		}
	case "read":
		msg, err := m.nc.Request("evlog.read", c.body, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var req messages.ReadRequest
		var rr messages.ReadReply
		if err := messages.Unmarshal(c.body, &req); err != nil {
			t.Fatal(err)
		}
		if err := messages.Unmarshal(msg.Data, &rr); err != nil {
			t.Fatalf("read reply to %s: %v", c.kind, err)
		}
		n := uint64(len(rr.Records))
		if rr.NextOffset != req.Offset+n || req.Offset < m.next && n == 0 {
			t.Fatalf("read from %d returned %d records, next %d", req.Offset, n, rr.NextOffset)
		}
		for i, r := range rr.Records {
			b, err := messages.Marshal(&r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, m.stored[req.Offset+uint64(i)]) {
				t.Fatalf("read from %d: record %d is not the one stored", req.Offset, i)
			}
		}
	case "truncate":
		var tr messages.TruncateRequest
		if err := messages.Unmarshal(c.body, &tr); err != nil {
			t.Fatal(err)
		}
		// One segment: only truncating at the end deletes, and then
		// everything.
		if tr.Lowest == m.next {
			m.lowest = m.next
		}
		if got := m.info(t); got.LowestOffset != m.lowest || got.NextOffset != m.next {
			t.Fatalf("after truncate to %d: info %+v, want lowest %d next %d", tr.Lowest, got, m.lowest, m.next)
		}
	}
}

func (m *malModel) info(t *testing.T) messages.InfoReply {
	t.Helper()
	msg, err := m.nc.Request("evlog.info", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info messages.InfoReply
	if err := messages.Unmarshal(msg.Data, &info); err != nil {
		t.Fatalf("info: %v", err)
	}
	return info
}

func malReadBody(off uint64) []byte { return mpMap(mpStr("offset"), mpUint(off)) }

// malGen generates requests.
type malGen struct{ rnd *rand.Rand }

var malSubjects = []string{"append", "read", "truncate", "info"}

func (g *malGen) subject() string { return malSubjects[g.rnd.IntN(len(malSubjects))] }

func (g *malGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rnd.Uint32())
	}
	return b
}

// any returns a case of any kind; next is the log's next offset.
func (g *malGen) any(next uint64) malCase {
	switch g.rnd.IntN(13) {
	case 0, 1:
		return g.random()
	case 2:
		return g.randomMsgpack()
	case 3:
		return g.truncated()
	case 4:
		return g.overflow()
	case 5:
		return g.outOfRange(next)
	case 6:
		return g.mutated()
	}
	return g.stateless()
}

// mutated changes a few bytes of a valid request, which often leaves it
// valid: a changed value is still a value.
func (g *malGen) mutated() malCase {
	s := g.subject()
	body := malValid(s)
	if s == "append" && g.rnd.IntN(2) == 0 {
		body = mpMap(mpStr("records"), mpArr(mpMap(mpStr("value"), mpBin(g.bytes(1+g.rnd.IntN(30))),
			mpStr("key"), mpStr("k"), mpStr("headers"), mpMap(mpStr("h"), mpStr("v")))))
	}
	for range 1 + g.rnd.IntN(3) {
		if len(body) > 0 {
			body[g.rnd.IntN(len(body))] ^= byte(1 + g.rnd.IntN(255))
		}
	}
	return malCase{kind: "mutated", subject: s, body: body, want: malOracle}
}

// stateless returns a case whose outcome does not depend on the log, so
// that it can be sent concurrently or without a reply subject.
func (g *malGen) stateless() malCase {
	switch g.rnd.IntN(8) {
	case 0:
		return g.wrongType()
	case 1:
		return g.bomb()
	case 2:
		return g.negative()
	case 3:
		return g.emptyBatch()
	case 4:
		return g.oversized()
	case 5:
		return g.tooMany()
	case 6:
		return g.trailing()
	}
	return g.deep()
}

// malFixed makes a case with a known outcome; info ignores its body.
func malFixed(kind, subject string, body []byte, code int) malCase {
	if subject == "info" {
		code = 0
	}
	return malCase{kind: kind, subject: subject, body: body, want: code}
}

func (g *malGen) random() malCase {
	n := g.rnd.IntN(33)
	switch g.rnd.IntN(10) {
	case 0:
		n = g.rnd.IntN(4096)
	case 1, 2:
		n = g.rnd.IntN(512)
	}
	return malCase{kind: "random bytes", subject: g.subject(), body: g.bytes(n), want: malOracle}
}

var malKeys = []string{"records", "value", "key", "headers", "offset", "timestamp", "max_records", "max_bytes", "wait_ms", "lowest", "x"}

// value returns a random msgpack value nesting up to depth levels.
func (g *malGen) value(depth int) []byte {
	k := g.rnd.IntN(12)
	if depth <= 0 {
		k %= 9
	}
	switch k {
	case 0:
		return []byte{0xc0}
	case 1:
		return []byte{0xc2 + byte(g.rnd.IntN(2))}
	case 2:
		return mpUint(g.rnd.Uint64() >> g.rnd.IntN(64))
	case 3:
		return mpInt(-1 - int64(g.rnd.Uint64()>>(1+g.rnd.IntN(63))))
	case 4:
		return append([]byte{0xca}, g.bytes(4)...)
	case 5:
		return append([]byte{0xcb}, g.bytes(8)...)
	case 6:
		return mpStr(string(g.bytes(g.rnd.IntN(40))))
	case 7, 8:
		return mpBin(g.bytes(g.rnd.IntN(40)))
	case 9:
		items := make([][]byte, g.rnd.IntN(4))
		for i := range items {
			items[i] = g.value(depth - 1)
		}
		return mpArr(items...)
	}
	kvs := make([][]byte, 0, 6)
	for range g.rnd.IntN(4) {
		kvs = append(kvs, mpStr(malKeys[g.rnd.IntN(len(malKeys))]), g.value(depth-1))
	}
	return mpMap(kvs...)
}

func (g *malGen) randomMsgpack() malCase {
	body := g.value(3)
	if g.rnd.IntN(3) > 0 {
		kvs := make([][]byte, 0, 6)
		for range 1 + g.rnd.IntN(3) {
			kvs = append(kvs, mpStr(malKeys[g.rnd.IntN(len(malKeys))]), g.value(3))
		}
		body = mpMap(kvs...)
	}
	return malCase{kind: "random msgpack", subject: g.subject(), body: body, want: malOracle}
}

// Field types, for wrong values.
const (
	tUint = iota
	tInt
	tBytes
	tHeaders
	tHeaderValue
	tRecords
	tRecord
	tTop
)

// wrongValue returns a value that is not of type typ (nor nil where nil
// would stand for a valid zero value).
func (g *malGen) wrongValue(typ int) []byte {
	for {
		var v []byte
		var okFor []int
		switch g.rnd.IntN(10) {
		case 0:
			v, okFor = mpInt(-1-int64(g.rnd.Uint64()>>(1+g.rnd.IntN(63)))), []int{tInt}
		case 1:
			v = append([]byte{0xca}, g.bytes(4)...)
		case 2:
			v = append([]byte{0xcb}, g.bytes(8)...)
		case 3:
			v, okFor = mpStr("12"), []int{tBytes, tHeaderValue}
		case 4:
			v, okFor = mpBin([]byte("12")), []int{tBytes, tHeaderValue}
		case 5:
			v = []byte{0xc2 + byte(g.rnd.IntN(2))}
		case 6:
			v = mpArr(mpUint(1), mpUint(2))
		case 7:
			// A map is the right type for a body, and {"a": 1} is a
			// valid read or truncate: unknown keys are ignored.
			v, okFor = mpMap(mpStr("a"), mpUint(1)), []int{tTop}
		case 8:
			v, okFor = mpUint(g.rnd.Uint64()>>(1+g.rnd.IntN(63))), []int{tUint, tInt}
		case 9:
			v, okFor = mpUint(1<<63+g.rnd.Uint64()>>1), []int{tUint}
		}
		if !slices.Contains(okFor, typ) {
			return v
		}
	}
}

// wrongType puts a value of the wrong type in a field.
func (g *malGen) wrongType() malCase {
	rec := func(kvs ...[]byte) []byte { return mpMap(mpStr("records"), mpArr(mpMap(kvs...))) }
	x := mpStr("x")
	switch g.rnd.IntN(13) {
	case 0:
		return malFixed("wrong type", "read", mpMap(mpStr("offset"), g.wrongValue(tUint)), 400)
	case 1:
		field := []string{"max_records", "max_bytes", "wait_ms"}[g.rnd.IntN(3)]
		return malFixed("wrong type", "read", mpMap(mpStr("offset"), mpUint(0), mpStr(field), g.wrongValue(tUint)), 400)
	case 2:
		return malFixed("wrong type", "truncate", mpMap(mpStr("lowest"), g.wrongValue(tUint)), 400)
	case 3:
		return malFixed("wrong type", "append", mpMap(mpStr("records"), g.wrongValue(tRecords)), 400)
	case 4:
		return malFixed("wrong type", "append", mpMap(mpStr("records"), mpArr(g.wrongValue(tRecord))), 400)
	case 5:
		return malFixed("wrong type", "append", rec(mpStr("value"), g.wrongValue(tBytes)), 400)
	case 6:
		return malFixed("wrong type", "append", rec(mpStr("value"), x, mpStr("key"), g.wrongValue(tBytes)), 400)
	case 7:
		return malFixed("wrong type", "append", rec(mpStr("value"), x, mpStr("headers"), g.wrongValue(tHeaders)), 400)
	case 8:
		return malFixed("wrong type", "append", rec(mpStr("value"), x, mpStr("headers"), mpMap(mpStr("h"), g.wrongValue(tHeaderValue))), 400)
	case 9:
		return malFixed("wrong type", "append", rec(mpStr("value"), x, mpStr("offset"), g.wrongValue(tUint)), 400)
	case 10:
		return malFixed("wrong type", "append", rec(mpStr("value"), x, mpStr("timestamp"), g.wrongValue(tInt)), 400)
	case 11:
		// A header name that is not a string.
		return malFixed("wrong type", "append", rec(mpStr("value"), x, mpStr("headers"), mpMap(g.wrongValue(tHeaderValue), x)), 400)
	}
	return malFixed("wrong type", g.subject(), g.wrongValue(tTop), 400)
}

// bombHeader is a str, bin, array, map or ext header declaring far more
// than follows it.
func (g *malGen) bombHeader() []byte {
	n := []uint32{math.MaxUint32, math.MaxInt32, 1 << 31, 1<<31 + g.rnd.Uint32()>>1, 1<<20 + g.rnd.Uint32()>>8}[g.rnd.IntN(5)]
	switch g.rnd.IntN(10) {
	case 0:
		return binary.BigEndian.AppendUint16([]byte{[]byte{0xdc, 0xde, 0xc5, 0xda}[g.rnd.IntN(4)]}, math.MaxUint16)
	case 1:
		return append(binary.BigEndian.AppendUint32([]byte{0xc9}, n), 1) // ext32
	}
	return binary.BigEndian.AppendUint32([]byte{[]byte{0xdd, 0xdf, 0xc6, 0xdb}[g.rnd.IntN(4)]}, n)
}

// bomb places one or more bombs where a decoder would allocate.
func (g *malGen) bomb() malCase {
	h := g.bombHeader()
	x := mpStr("x")
	var subject string
	var body []byte
	switch g.rnd.IntN(12) {
	case 0:
		subject, body = g.subject(), append(h, g.bytes(g.rnd.IntN(9))...)
	case 1:
		subject, body = "read", cat(fixmap(1), mpStr("offset"), h)
	case 2:
		subject, body = "truncate", cat(fixmap(1), mpStr("lowest"), h)
	case 3:
		subject, body = "append", cat(fixmap(1), mpStr("records"), h)
	case 4:
		subject, body = "append", cat(fixmap(1), mpStr("records"), fixarray(1), fixmap(1), mpStr("value"), h)
	case 5:
		subject, body = "append", cat(fixmap(1), mpStr("records"), fixarray(1), fixmap(2), mpStr("value"), x, mpStr("headers"), h)
	case 6:
		subject, body = "append", cat(fixmap(1), mpStr("records"), fixarray(1), fixmap(2), mpStr("value"), x, mpStr("headers"), fixmap(1), x, h)
	case 7:
		// Under a key nobody reads, which a decoder skips.
		subject, body = g.subject(), cat(fixmap(1), mpStr("junk"), h)
	case 8:
		// Nested: each level claims billions and holds the next.
		subject, body = g.subject(), cat(fixmap(1), mpStr("records"), g.bombHeader(), g.bombHeader(), g.bombHeader(), h)
	case 9:
		// Many bombs side by side.
		subject, body = "append", cat(fixmap(1), mpStr("records"), fixarray(15), bytes.Repeat(h, 15))
	case 10:
		// A 64 Ki array of bombs.
		subject, body = g.subject(), cat(binary.BigEndian.AppendUint16([]byte{0xdc}, math.MaxUint16), bytes.Repeat(h, 8))
	default:
		subject, body = "append", cat(fixmap(1), mpStr("records"), fixarray(1), fixmap(2), mpStr("value"), x, mpStr("key"), h)
	}
	return malFixed("bomb", subject, body, 400)
}

func (g *malGen) negative() malCase {
	v := mpInt([]int64{-1, -32, -33, -128, -129, math.MinInt16, math.MinInt32, math.MinInt64, -1 - int64(g.rnd.Uint64()>>1)}[g.rnd.IntN(9)])
	switch g.rnd.IntN(4) {
	case 0:
		return malFixed("negative", "read", mpMap(mpStr("offset"), v), 400)
	case 1:
		field := []string{"max_records", "max_bytes", "wait_ms"}[g.rnd.IntN(3)]
		return malFixed("negative", "read", mpMap(mpStr("offset"), mpUint(0), mpStr(field), v), 400)
	case 2:
		return malFixed("negative", "truncate", mpMap(mpStr("lowest"), v), 400)
	}
	return malFixed("negative", "append", mpMap(mpStr("records"), mpArr(mpMap(mpStr("value"), mpStr("x"), mpStr("offset"), v))), 400)
}

// overflow sends numbers at the top of their range: offsets beyond any
// log (404), a timestamp past int64 (400), and limits so large that only
// the service's own caps apply (a normal read).
func (g *malGen) overflow() malCase {
	big := mpUint([]uint64{math.MaxUint64, 1 << 63, math.MaxInt64, math.MaxUint32 + 1}[g.rnd.IntN(4)])
	switch g.rnd.IntN(4) {
	case 0:
		return malFixed("overflow", "read", mpMap(mpStr("offset"), big), 404)
	case 1:
		return malFixed("overflow", "truncate", mpMap(mpStr("lowest"), big), 404)
	case 2:
		return malFixed("overflow", "append", mpMap(mpStr("records"), mpArr(mpMap(mpStr("value"), mpStr("x"),
			mpStr("timestamp"), mpUint(1<<63+g.rnd.Uint64()>>1)))), 400)
	}
	// Valid, unless a truncation by chance moved the lowest offset past 0.
	field := []string{"max_records", "max_bytes", "wait_ms"}[g.rnd.IntN(3)]
	return malCase{kind: "overflow", subject: "read", body: mpMap(mpStr("offset"), mpUint(0), mpStr(field), big), want: malOracle}
}

func (g *malGen) outOfRange(next uint64) malCase {
	off := next + 1 + uint64(g.rnd.IntN(1000))
	if g.rnd.IntN(2) == 0 {
		return malFixed("out of range", "truncate", mpMap(mpStr("lowest"), mpUint(off)), 404)
	}
	return malFixed("out of range", "read", mpMap(mpStr("offset"), mpUint(off)), 404)
}

func (g *malGen) emptyBatch() malCase {
	x := mpStr("x")
	bodies := [][]byte{
		mpMap(mpStr("records"), mpArr()),
		mpMap(mpStr("records"), []byte{0xc0}),
		mpMap(),
		mpMap(mpStr("junk"), x),
		mpMap(mpStr("records"), mpArr(mpMap())),
		mpMap(mpStr("records"), mpArr([]byte{0xc0})),
		mpMap(mpStr("records"), mpArr(mpMap(mpStr("value"), mpBin(nil)))),
		mpMap(mpStr("records"), mpArr(mpMap(mpStr("value"), []byte{0xc0}))),
		mpMap(mpStr("records"), mpArr(mpMap(mpStr("key"), mpStr("")))),
		mpMap(mpStr("records"), mpArr(mpMap(mpStr("headers"), mpMap(x, x)))),
		mpMap(mpStr("records"), mpArr(mpMap(mpStr("value"), x), mpMap())),
		// An array16 of none.
		mpMap(mpStr("records"), []byte{0xdc, 0, 0}),
	}
	return malFixed("empty batch", "append", bodies[g.rnd.IntN(len(bodies))], 400)
}

func (g *malGen) oversized() malCase {
	n := malMaxRecord + 64 + g.rnd.IntN(64<<10)
	x := mpStr("x")
	var rec []byte
	switch g.rnd.IntN(4) {
	case 0:
		if g.rnd.IntN(10) == 0 {
			// Close to the most a NATS message carries.
			n = 1<<20 - 1<<10
		}
		rec = mpMap(mpStr("value"), mpBin(make([]byte, n)))
	case 1:
		rec = mpMap(mpStr("value"), x, mpStr("key"), mpStr(strings.Repeat("k", n)))
	case 2:
		var kvs [][]byte
		for i := range n/40 + 1 {
			kvs = append(kvs, mpStr(fmt.Sprintf("header-%05d", i)), mpStr(strings.Repeat("h", 30)))
		}
		rec = mpMap(mpStr("value"), x, mpStr("headers"), mpMap(kvs...))
	default:
		// A valid record first.
		return malFixed("oversized", "append", mpMap(mpStr("records"), mpArr(mpMap(mpStr("value"), x),
			mpMap(mpStr("value"), mpBin(make([]byte, n))))), 413)
	}
	return malFixed("oversized", "append", mpMap(mpStr("records"), mpArr(rec)), 413)
}

// tooMany sends more records than a batch may hold; the count is checked
// before the records themselves, even empty ones.
func (g *malGen) tooMany() malCase {
	n := malMaxBatch + 1 + g.rnd.IntN(2000)
	rec := mpMap(mpStr("value"), mpStr("x"))
	if g.rnd.IntN(3) == 0 {
		rec = mpMap()
	}
	return malFixed("too many records", "append", mpMap(mpStr("records"), mpArr(slices.Repeat([][]byte{rec}, n)...)), 413)
}

// malValid returns a valid request on subject that changes nothing in the
// log, or for append a valid append.
func malValid(subject string) []byte {
	switch subject {
	case "read":
		return mpMap(mpStr("offset"), mpUint(0), mpStr("max_records"), mpUint(5))
	case "truncate":
		return mpMap(mpStr("lowest"), mpUint(0))
	case "info":
		return nil
	}
	return mpMap(mpStr("records"), mpArr(mpMap(mpStr("value"), mpStr("valid"))))
}

func (g *malGen) trailing() malCase {
	s := g.subject()
	return malFixed("trailing bytes", s, append(malValid(s), g.bytes(1+g.rnd.IntN(16))...), 400)
}

// truncated cuts a request short, which may leave a valid body.
func (g *malGen) truncated() malCase {
	var body []byte
	switch g.rnd.IntN(3) {
	case 0:
		body = g.wrongType().body
	case 1:
		body = g.randomMsgpack().body
	default:
		body = malValid(g.subject())
	}
	if len(body) > 0 {
		body = body[:g.rnd.IntN(len(body))]
	}
	return malCase{kind: "truncated", subject: g.subject(), body: body, want: malOracle}
}

// deep nests arrays past messages.MaxDepth.
func (g *malGen) deep() malCase {
	d := messages.MaxDepth + 1 + g.rnd.IntN(300)
	nest := append(bytes.Repeat([]byte{0x91}, d), 0x01)
	switch g.rnd.IntN(3) {
	case 0:
		return malFixed("deep nesting", g.subject(), nest, 400)
	case 1:
		return malFixed("deep nesting", "append", mpMap(mpStr("records"), nest), 400)
	}
	s := g.subject()
	return malFixed("deep nesting", s, mpMap(mpStr("junk"), nest), 400)
}

// Hand-written msgpack, of every width.

func mpUint(v uint64) []byte {
	switch {
	case v < 1<<7:
		return []byte{byte(v)}
	case v < 1<<8:
		return []byte{0xcc, byte(v)}
	case v < 1<<16:
		return binary.BigEndian.AppendUint16([]byte{0xcd}, uint16(v))
	case v < 1<<32:
		return binary.BigEndian.AppendUint32([]byte{0xce}, uint32(v))
	}
	return binary.BigEndian.AppendUint64([]byte{0xcf}, v)
}

// mpInt encodes a negative number.
func mpInt(v int64) []byte {
	switch {
	case v >= -32:
		return []byte{byte(v)}
	case v >= math.MinInt8:
		return []byte{0xd0, byte(v)}
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16([]byte{0xd1}, uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32([]byte{0xd2}, uint32(v))
	}
	return binary.BigEndian.AppendUint64([]byte{0xd3}, uint64(v))
}

func mpStr(s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		return append([]byte{0xa0 | byte(n)}, s...)
	case n < 1<<8:
		return append([]byte{0xd9, byte(n)}, s...)
	case n < 1<<16:
		return append(binary.BigEndian.AppendUint16([]byte{0xda}, uint16(n)), s...)
	}
	return append(binary.BigEndian.AppendUint32([]byte{0xdb}, uint32(n)), s...)
}

func mpBin(b []byte) []byte {
	n := len(b)
	switch {
	case n < 1<<8:
		return append([]byte{0xc4, byte(n)}, b...)
	case n < 1<<16:
		return append(binary.BigEndian.AppendUint16([]byte{0xc5}, uint16(n)), b...)
	}
	return append(binary.BigEndian.AppendUint32([]byte{0xc6}, uint32(n)), b...)
}

// mpMap encodes a map of the keys and values given in turn.
func mpMap(kvs ...[]byte) []byte {
	var h []byte
	switch n := len(kvs) / 2; {
	case n < 16:
		h = []byte{0x80 | byte(n)}
	case n < 1<<16:
		h = binary.BigEndian.AppendUint16([]byte{0xde}, uint16(n))
	default:
		h = binary.BigEndian.AppendUint32([]byte{0xdf}, uint32(n))
	}
	return cat(append([][]byte{h}, kvs...)...)
}

func mpArr(items ...[]byte) []byte {
	var h []byte
	switch n := len(items); {
	case n < 16:
		h = []byte{0x90 | byte(n)}
	case n < 1<<16:
		h = binary.BigEndian.AppendUint16([]byte{0xdc}, uint16(n))
	default:
		h = binary.BigEndian.AppendUint32([]byte{0xdd}, uint32(n))
	}
	return cat(append([][]byte{h}, items...)...)
}
