package service

import (
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
)

func tsPtr(ts int64) *int64 { return &ts }

// TestReadByTime reads from timestamps at, between, before and after the
// fake log's records (two a timestamp: 1000, 1000, 1100, 1100, ...), in
// msgpack and in JSON, and refuses a request with both offset and
// timestamp.
func TestReadByTime(t *testing.T) {
	log := newFakeLog()
	e := startFake(t, Config{}, log)
	e.request(t, "append", appendReq("a", "b", "c", "d", "e", "f"))
	if _, err := log.TruncateFront(1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		ts    int64
		first uint64 // of the reply; 6 for none
	}{
		{"before the first", -5, 1},
		{"at the first kept", 1000, 1},
		{"at a pair", 1100, 2},
		{"between", 1101, 4},
		{"at the last", 1200, 4},
		{"after the last", 1201, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.request(t, "read", &messages.ReadRequest{Timestamp: tsPtr(tc.ts), MaxRecords: 10})
			var rep messages.ReadReply
			if err := messages.Unmarshal(body, &rep); code != codeOK || err != nil || rep.NextOffset != 6 {
				t.Fatalf("read: %d %+v %v", code, rep, err)
			}
			if want := 6 - tc.first; uint64(len(rep.Records)) != want || want > 0 && rep.Records[0].Offset != tc.first {
				t.Fatalf("records %+v, want %d from offset %d", rep.Records, want, tc.first)
			}
			var jrep struct {
				Records []struct {
					Offset uint64 `json:"offset"`
				} `json:"records"`
				NextOffset uint64 `json:"next_offset"`
			}
			wantJSON(t, e.requestJSON(t, "read", `{"timestamp": `+strconv.FormatInt(tc.ts, 10)+`, "max_records": 10}`, true), &jrep)
			if len(jrep.Records) != len(rep.Records) || jrep.NextOffset != 6 || len(jrep.Records) > 0 && jrep.Records[0].Offset != tc.first {
				t.Fatalf("JSON read: %+v, msgpack gave %+v", jrep, rep)
			}
		})
	}
	both := e.requestJSON(t, "read", `{"timestamp": 1, "offset": 1}`, true)
	if code := replyCode(t, both); code != messages.CodeBadRequest {
		t.Fatalf("read with offset and timestamp: %d, want 400", code)
	}
}

// TestReadByTimeWaits parks a read from a timestamp after every record,
// as a read at the end, and wakes it with the next append.
func TestReadByTimeWaits(t *testing.T) {
	e := startFake(t, Config{}, newFakeLog())
	e.request(t, "append", appendReq("old"))
	sub, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := messages.Marshal(&messages.ReadRequest{Timestamp: tsPtr(1 << 40), MaxRecords: 10, WaitMS: 10000})
	if err := e.nc.PublishRequest("evlog.read", sub.Subject, body); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a parked read", func() bool { return e.svc.Stats().ParkedReads == 1 })
	e.request(t, "append", appendReq("new"))
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep messages.ReadReply
	if err := messages.Unmarshal(m.Data, &rep); err != nil || len(rep.Records) != 1 || string(rep.Records[0].Value) != "new" {
		t.Fatalf("woken read: %+v %v", rep, err)
	}
}
