package messages

import (
	"errors"
	"testing"
)

func TestEventRoundTrip(t *testing.T) {
	for _, ev := range []Event{
		{Type: EventRetention, Time: 1_700_000_000_000_000_000, FirstOffset: 0, LastOffset: 1023, Bytes: 1 << 30, Reason: "age 24h0m0s"},
		{Type: EventTruncate, Time: -1, FirstOffset: 5, LastOffset: 5},
		{},
	} {
		b, err := Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var got Event
		if err := Unmarshal(b, &got); err != nil {
			t.Fatalf("%+v: %v", ev, err)
		}
		if got != ev {
			t.Fatalf("round trip gave %+v, want %+v", got, ev)
		}
	}
}

// TestEventJSON pins the JSON rendering the README documents.
func TestEventJSON(t *testing.T) {
	b, err := Marshal(Event{Type: EventRetention, Time: 1700000000000000000, FirstOffset: 0, LastOffset: 99, Bytes: 4096, Reason: "age 24h0m0s"})
	if err != nil {
		t.Fatal(err)
	}
	j, err := MsgpackToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"retention","time":1700000000000000000,"first_offset":0,"last_offset":99,"bytes":4096,"reason":"age 24h0m0s"}`
	if string(j) != want {
		t.Fatalf("JSON\n%s\nwant\n%s", j, want)
	}
	// Without a reason the key is left out.
	b, err = Marshal(Event{Type: EventTruncate, Time: 1, FirstOffset: 3, LastOffset: 4})
	if err != nil {
		t.Fatal(err)
	}
	if j, _ := MsgpackToJSON(b); string(j) != `{"type":"truncate","time":1,"first_offset":3,"last_offset":4,"bytes":0}` {
		t.Fatalf("JSON %s", j)
	}
}

func TestEventRefusesWrongTypes(t *testing.T) {
	for name, body := range map[string][]byte{
		"type as int":         mapBody(t, "type", 3),
		"negative bytes":      mapBody(t, "bytes", -1),
		"time as string":      mapBody(t, "time", "now"),
		"reason as array":     mapBody(t, "reason", []any{"x"}),
		"truncated":           {0x81, 0xa4, 't', 'y'},
		"declares a long str": {0x81, 0xa4, 't', 'y', 'p', 'e', 0xdb, 0xff, 0xff, 0xff, 0xff},
	} {
		var ev Event
		if err := Unmarshal(body, &ev); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	var ev Event
	if err := Unmarshal(mapBody(t, "type", "snapshot", "future", []any{1}, "reason", nil), &ev); err != nil || ev.Type != EventSnapshot || ev.Reason != "" {
		t.Fatalf("unknown key and nil reason: %+v, %v", ev, err)
	}
}

func TestEventsSubject(t *testing.T) {
	if got := NewSubjects("orders.eu").Events; got != "orders.eu.events" {
		t.Fatalf("events subject %q", got)
	}
}
