package e2e

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/servicetest"
)

// Hand-made msgpack, as a client in another language would send it.

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func fixmap(n int) []byte { return []byte{0x80 | byte(n)} }

func fixarray(n int) []byte { return []byte{0x90 | byte(n)} }

func str(s string) []byte { return append([]byte{0xa0 | byte(len(s))}, s...) }

func bin8(b string) []byte { return append([]byte{0xc4, byte(len(b))}, b...) }

func uint8v(n byte) []byte { return []byte{0xcc, n} }

// request sends body to subject on a plain connection and returns the
// reply.
func request(t *testing.T, nc *nats.Conn, subject string, body []byte) *nats.Msg {
	t.Helper()
	msg, err := nc.Request(subject, body, 10*time.Second)
	if err != nil {
		t.Fatalf("request %s: %v", subject, err)
	}
	return msg
}

// wantError checks an error reply as a non-Go client sees it: the two
// micro headers and an empty body.
func wantError(t *testing.T, msg *nats.Msg, code int) {
	t.Helper()
	if got := msg.Header.Get("Nats-Service-Error-Code"); got != strconv.Itoa(code) {
		t.Fatalf("error code header %q, want %d (description %q)", got, code, msg.Header.Get("Nats-Service-Error"))
	}
	if msg.Header.Get("Nats-Service-Error") == "" {
		t.Fatalf("no error description")
	}
	if len(msg.Data) != 0 {
		t.Fatalf("error reply has a body: %x", msg.Data)
	}
}

func wantOK(t *testing.T, msg *nats.Msg) {
	t.Helper()
	if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
		t.Fatalf("error %s: %s", code, msg.Header.Get("Nats-Service-Error"))
	}
}

// decodeMap decodes a reply into a generic map, checked like any bytes.
func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := messages.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	return m
}

func asUint(t *testing.T, v any) uint64 {
	t.Helper()
	switch n := v.(type) {
	case int8:
		return uint64(n)
	case int16:
		return uint64(n)
	case int32:
		return uint64(n)
	case int64:
		return uint64(n)
	case uint8:
		return uint64(n)
	case uint16:
		return uint64(n)
	case uint32:
		return uint64(n)
	case uint64:
		return n
	}
	t.Fatalf("%v (%T) is not an integer", v, v)
	return 0
}

func TestRawProtocol(t *testing.T) {
	e := newEnv(t, service.Config{Prefix: "raw.log"})
	nc := e.nc

	// append {"records": [{"value": "hello", "key": "k", "headers": {"h": "v"}}, {"value": "world"}]}
	body := cat(fixmap(1), str("records"), fixarray(2),
		fixmap(3), str("value"), bin8("hello"), str("key"), bin8("k"), str("headers"), fixmap(1), str("h"), str("v"),
		fixmap(1), str("value"), bin8("world"))
	msg := request(t, nc, "raw.log.append", body)
	wantOK(t, msg)
	// {"first_offset": 0, "last_offset": 1}, byte for byte.
	want := cat(fixmap(2), str("first_offset"), []byte{0x00}, str("last_offset"), []byte{0x01})
	if !bytes.Equal(msg.Data, want) {
		t.Fatalf("append reply %x, want %x", msg.Data, want)
	}

	// read {"offset": 0, "max_records": 10}
	msg = request(t, nc, "raw.log.read", cat(fixmap(2), str("offset"), []byte{0x00}, str("max_records"), uint8v(10)))
	wantOK(t, msg)
	m := decodeMap(t, msg.Data)
	if len(m) != 2 || asUint(t, m["next_offset"]) != 2 {
		t.Fatalf("read reply %v", m)
	}
	recs, ok := m["records"].([]any)
	if !ok || len(recs) != 2 {
		t.Fatalf("read reply records %v", m["records"])
	}
	r0 := recs[0].(map[string]any)
	if string(r0["value"].([]byte)) != "hello" || string(r0["key"].([]byte)) != "k" || asUint(t, r0["offset"]) != 0 ||
		asUint(t, r0["timestamp"]) == 0 || r0["headers"].(map[string]any)["h"] != "v" {
		t.Fatalf("record 0: %v", r0)
	}
	r1 := recs[1].(map[string]any)
	if string(r1["value"].([]byte)) != "world" || asUint(t, r1["offset"]) != 1 {
		t.Fatalf("record 1: %v", r1)
	}
	if _, ok := r1["key"]; ok {
		t.Fatalf("record 1 has a key: %v", r1)
	}

	// read at the end with a short wait: {"records": [], "next_offset": 2}
	msg = request(t, nc, "raw.log.read", cat(fixmap(2), str("offset"), []byte{0x02}, str("wait_ms"), []byte{0x0a}))
	wantOK(t, msg)
	if want := cat(fixmap(2), str("records"), fixarray(0), str("next_offset"), []byte{0x02}); !bytes.Equal(msg.Data, want) {
		t.Fatalf("empty read reply %x, want %x", msg.Data, want)
	}

	// info, empty body.
	msg = request(t, nc, "raw.log.info", nil)
	wantOK(t, msg)
	m = decodeMap(t, msg.Data)
	if len(m) != 4 || asUint(t, m["lowest_offset"]) != 0 || asUint(t, m["next_offset"]) != 2 ||
		asUint(t, m["segments"]) != 1 || asUint(t, m["bytes"]) == 0 {
		t.Fatalf("info reply %v", m)
	}

	// truncate {"lowest": 0}
	msg = request(t, nc, "raw.log.truncate", cat(fixmap(1), str("lowest"), []byte{0x00}))
	wantOK(t, msg)
	m = decodeMap(t, msg.Data)
	if len(m) != 1 || asUint(t, m["lowest_offset"]) != 0 {
		t.Fatalf("truncate reply %v", m)
	}

	// The commit notification of the next append.
	sub, err := nc.SubscribeSync("raw.log.committed")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	wantOK(t, request(t, nc, "raw.log.append", cat(fixmap(1), str("records"), fixarray(1), fixmap(1), str("value"), bin8("x"))))
	note, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := cat(fixmap(2), str("first_offset"), []byte{0x02}, str("last_offset"), []byte{0x02}); !bytes.Equal(note.Data, want) {
		t.Fatalf("committed %x, want %x", note.Data, want)
	}

	// micro discovery sees the service, named after its prefix, and its
	// subjects.
	msg = request(t, nc, "$SRV.INFO.evlog-raw_log", nil)
	if !bytes.Contains(msg.Data, []byte(`"prefix":"raw.log"`)) {
		t.Fatalf("$SRV.INFO lacks the prefix metadata: %s", msg.Data)
	}
	for _, subject := range []string{"raw.log.append", "raw.log.read", "raw.log.truncate", "raw.log.info"} {
		if !bytes.Contains(msg.Data, []byte(`"subject":"`+subject+`"`)) {
			t.Fatalf("$SRV.INFO lacks %s: %s", subject, msg.Data)
		}
	}
	if bytes.Contains(msg.Data, []byte(`"queue_group":"q"`)) {
		t.Fatalf("endpoints in a queue group: %s", msg.Data)
	}
}

func TestRawErrors(t *testing.T) {
	e := newEnv(t, service.Config{MaxRecordBytes: 1000, MaxBatchRecords: 3})
	nc := e.nc
	wantOK(t, request(t, nc, "evlog.append", cat(fixmap(1), str("records"), fixarray(1), fixmap(1), str("value"), bin8("a"))))

	record := func(v string) []byte { return cat(fixmap(1), str("value"), bin8(v)) }
	big := cat(fixmap(1), str("value"), []byte{0xc5, 0x03, 0xe8}, make([]byte, 1000))
	tests := []struct {
		name    string
		subject string
		body    []byte
		code    int
	}{
		{"append not msgpack", "append", []byte{0xc1}, 400},
		{"append empty body", "append", nil, 400},
		{"append not a map", "append", fixarray(0), 400},
		{"append records not an array", "append", cat(fixmap(1), str("records"), str("x")), 400},
		{"append record not a map", "append", cat(fixmap(1), str("records"), fixarray(1), []byte{0x01}), 400},
		{"append value not bytes", "append", cat(fixmap(1), str("records"), fixarray(1), fixmap(1), str("value"), fixmap(0)), 400},
		{"append no records", "append", cat(fixmap(1), str("records"), fixarray(0)), 400},
		{"append records missing", "append", fixmap(0), 400},
		{"append empty record", "append", cat(fixmap(1), str("records"), fixarray(1), fixmap(0)), 400},
		{"append empty value", "append", cat(fixmap(1), str("records"), fixarray(1), fixmap(1), str("value"), bin8("")), 400},
		{"append trailing bytes", "append", cat(fixmap(1), str("records"), fixarray(1), record("a"), []byte{0x00}), 400},
		// The 14-byte body {"records": <array32 of 4294967295>} that makes
		// a plain msgpack decoder run out of memory.
		{"append array32 bomb", "append", cat(fixmap(1), str("records"), []byte{0xdd, 0xff, 0xff, 0xff, 0xff}), 400},
		// A record whose value declares 4 GiB in a 5-byte bin32 header.
		{"append bin32 bomb", "append", cat(fixmap(1), str("records"), fixarray(1), fixmap(1), str("value"), []byte{0xc6, 0xff, 0xff, 0xff, 0xff}), 400},
		{"append map32 bomb", "append", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, 400},
		{"append record too large", "append", cat(fixmap(1), str("records"), fixarray(1), big), 413},
		{"append too many records", "append", cat(fixmap(1), str("records"), fixarray(4), record("a"), record("b"), record("c"), record("d")), 413},
		{"read not msgpack", "read", []byte{0xc1}, 400},
		{"read empty body", "read", nil, 400},
		{"read offset not an integer", "read", cat(fixmap(1), str("offset"), str("x")), 400},
		{"read bin32 bomb", "read", []byte{0xc6, 0xff, 0xff, 0xff, 0xff}, 400},
		{"read array32 bomb", "read", cat(fixmap(1), str("offset"), []byte{0xdd, 0xff, 0xff, 0xff, 0xff}), 400},
		{"read beyond next", "read", cat(fixmap(1), str("offset"), []byte{0x02}), 404},
		{"read far beyond next", "read", cat(fixmap(1), str("offset"), []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), 404},
		{"truncate not msgpack", "truncate", []byte{0xc1}, 400},
		{"truncate lowest not an integer", "truncate", cat(fixmap(1), str("lowest"), bin8("1")), 400},
		{"truncate beyond next", "truncate", cat(fixmap(1), str("lowest"), []byte{0x02}), 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, request(t, nc, "evlog."+tt.subject, tt.body), tt.code)
			// Still up, and nothing was appended.
			msg := request(t, nc, "evlog.info", nil)
			wantOK(t, msg)
			if next := asUint(t, decodeMap(t, msg.Data)["next_offset"]); next != 1 {
				t.Fatalf("next offset %d after a refused request", next)
			}
		})
	}
	wantOK(t, request(t, nc, "evlog.append", cat(fixmap(1), str("records"), fixarray(1), record("b"))))
}

// TestReadTooLarge reads a record that a NATS message cannot carry: it is
// in the log (written by an earlier configuration) but the reply would
// exceed the server's max payload.
func TestReadTooLarge(t *testing.T) {
	ns := servicetest.NATS(t, func(o *server.Options) { o.MaxPayload = 64 << 10 })
	dir := t.TempDir()
	l, err := segment.NewLog(dir, segment.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{100 << 10, 10, 30 << 10, 30 << 10, 30 << 10} {
		if _, err := l.Append(&messages.Record{Value: make([]byte, n)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	startNode(t, ns.ClientURL(), dir, segment.Config{}, service.Config{})
	nc := connect(t, ns.ClientURL())

	wantError(t, request(t, nc, "evlog.read", cat(fixmap(1), str("offset"), []byte{0x00})), 413)

	// Replies are capped by the max payload: of three 30 KiB records only
	// two fit in 64 KiB, whatever max_bytes asks.
	msg := request(t, nc, "evlog.read", cat(fixmap(3), str("offset"), []byte{0x02}, str("max_records"), []byte{0x7f},
		str("max_bytes"), []byte{0xce, 0x01, 0x00, 0x00, 0x00}))
	wantOK(t, msg)
	m := decodeMap(t, msg.Data)
	if n := len(m["records"].([]any)); n != 2 || asUint(t, m["next_offset"]) != 4 {
		t.Fatalf("capped read: %d records, next %v", n, m["next_offset"])
	}
	if len(msg.Data) > 64<<10 {
		t.Fatalf("reply of %d bytes", len(msg.Data))
	}

	// Appends are capped so that what is accepted can be read back.
	wantError(t, request(t, nc, "evlog.append", cat(fixmap(1), str("records"), fixarray(1), fixmap(1), str("value"),
		[]byte{0xc5, 0xff, 0xd0}, make([]byte, 0xffd0))), 413)
}
