package load

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/service/servicetest"
)

// A reply that comes twice is answered once and counted as stray; a
// publish that fails is answered with its error.
func TestWindowStrayAndPublishError(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	responder := connect(t, ns)
	if _, err := responder.Subscribe("twice", func(m *nats.Msg) {
		m.Respond([]byte("one"))
		m.Respond([]byte("two"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := responder.Flush(); err != nil {
		t.Fatal(err)
	}
	nc := connect(t, ns)
	var mu sync.Mutex
	var answers []Answer[string]
	w, err := NewWindow(nc, 2, time.Second, func(a Answer[string]) {
		mu.Lock()
		answers = append(answers, a)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stop := make(chan struct{})
	for _, tag := range []string{"first", "second"} {
		s, ok := w.Acquire(stop)
		if !ok {
			t.Fatal("no slot")
		}
		w.Send(s, "twice", nil, tag)
	}
	s, _ := w.Acquire(stop)
	w.Send(s, "twice", make([]byte, nc.MaxPayload()+1), "too large")
	w.Drain()
	deadline := time.Now().Add(5 * time.Second)
	for w.Stray() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	got := map[string]string{}
	for _, a := range answers {
		switch {
		case a.Msg != nil:
			got[a.Tag] = string(a.Msg.Data)
		case a.Err != nil:
			got[a.Tag] = "error"
		}
	}
	if len(answers) != 3 || got["first"] != "one" || got["second"] != "one" || got["too large"] != "error" {
		t.Fatalf("answers %v", got)
	}
	if n := w.Stray(); n != 2 {
		t.Fatalf("%d stray replies, want 2", n)
	}
	close(stop)
	if _, ok := w.Acquire(stop); ok {
		t.Fatal("acquired a slot after stop")
	}
}

func TestNewWindowRefuses(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	nc := connect(t, ns)
	answer := func(Answer[int]) {}
	for name, tc := range map[string]struct {
		size    int
		timeout time.Duration
		answer  func(Answer[int])
	}{
		"no slots":   {0, time.Second, answer},
		"no timeout": {1, 0, answer},
		"no answer":  {1, time.Second, nil},
	} {
		if _, err := NewWindow(nc, tc.size, tc.timeout, tc.answer); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
