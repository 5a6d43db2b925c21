package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/service"
)

// jsonReply checks that msg is a successful JSON reply and decodes it.
func jsonReply(t *testing.T, msg *nats.Msg, v any) {
	t.Helper()
	wantOK(t, msg)
	if ct := msg.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json: %s", ct, msg.Data)
	}
	if err := json.Unmarshal(msg.Data, v); err != nil {
		t.Fatalf("reply %s: %v", msg.Data, err)
	}
}

// TestJSONOverNATS talks to the real service in JSON from a plain
// connection, as `nats req` would.
func TestJSONOverNATS(t *testing.T) {
	e := newEnv(t, service.Config{})
	nc := connect(t, e.url)

	var ar struct {
		First *uint64 `json:"first_offset"`
		Last  *uint64 `json:"last_offset"`
	}
	jsonReply(t, request(t, nc, "evlog.append", []byte(`{"records":[{"value":"hello"}]}`)), &ar)
	if ar.First == nil || ar.Last == nil || *ar.First != 0 || *ar.Last != 0 {
		t.Fatalf("append reply %+v", ar)
	}
	typed := nats.NewMsg("evlog.append")
	typed.Header.Set("Content-Type", "application/json")
	typed.Data = []byte(`  {"records":[{"value":"world","key":"k","headers":{"h":"v"}}]}`)
	reply, err := nc.RequestMsg(typed, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	jsonReply(t, reply, &ar)
	if *ar.First != 1 {
		t.Fatalf("second append reply %+v", ar)
	}

	var rr struct {
		Records []struct {
			Value     string            `json:"value"`
			Key       string            `json:"key"`
			Headers   map[string]string `json:"headers"`
			Offset    uint64            `json:"offset"`
			Timestamp uint64            `json:"timestamp"`
		} `json:"records"`
		NextOffset uint64 `json:"next_offset"`
	}
	jsonReply(t, request(t, nc, "evlog.read", []byte(`{"offset":0,"max_records":10}`)), &rr)
	if len(rr.Records) != 2 || rr.NextOffset != 2 || rr.Records[0].Value != "hello" || rr.Records[1].Key != "k" ||
		rr.Records[1].Headers["h"] != "v" || rr.Records[1].Offset != 1 || rr.Records[0].Timestamp == 0 {
		t.Fatalf("read reply %+v", rr)
	}

	var info struct {
		Next *uint64 `json:"next_offset"`
	}
	jsonReply(t, request(t, nc, "evlog.info", []byte(`{}`)), &info)
	if info.Next == nil || *info.Next != 2 {
		t.Fatalf("info reply %+v", info)
	}

	for _, tc := range []struct{ subject, body string }{
		{"evlog.append", `{"records":[{"value":"a"}`},
		{"evlog.append", `{"records":[{"value":1}]}`},
		{"evlog.read", `{"offset":0,}`},
		{"evlog.truncate", `{"lowest":"0"}`},
	} {
		wantError(t, request(t, nc, tc.subject, []byte(tc.body)), 400)
	}
	if got := e.node.svc.CommittedOffset(); got != 2 {
		t.Fatalf("committed %d after the refused appends", got)
	}
}
