package service

import (
	"testing"

	"github.com/evlog/evlog/messages"
)

// TestAnswerCommittedOnCallersGoroutine: a commit answers the reads parked
// at the old end itself, before answerCommitted returns, and leaves those
// parked at the new end waiting. The poller here has no goroutine, so
// nothing else can answer them.
func TestAnswerCommittedOnCallersGoroutine(t *testing.T) {
	f := newFakeLog()
	if err := f.Attach(func(Commit) {}); err != nil {
		t.Fatal(err)
	}
	var answered []*parkedRead
	p := &poller{log: f, max: 10, wake: make(chan struct{}, 1), answer: func(r *parkedRead, stopping bool) {
		if stopping {
			t.Errorf("read at %d answered as stopping", r.req.Offset)
		}
		answered = append(answered, r)
	}}
	old := &parkedRead{req: messages.ReadRequest{Offset: 0}}
	if res := p.park(old); res != parked {
		t.Fatalf("park: %v", res)
	}
	p.answerCommitted()
	if len(answered) != 0 {
		t.Fatalf("answered %d reads before anything committed", len(answered))
	}
	if err := f.Append(&Append{Records: []*messages.Record{{Value: []byte("x")}}}); err != nil {
		t.Fatal(err)
	}
	atEnd := &parkedRead{req: messages.ReadRequest{Offset: 1}}
	if res := p.park(atEnd); res != parked {
		t.Fatalf("park at the new end: %v", res)
	}
	p.answerCommitted()
	if len(answered) != 1 || answered[0] != old {
		t.Fatalf("answered %d reads, want the one parked at 0", len(answered))
	}
	if n := p.len(); n != 1 {
		t.Fatalf("%d reads still parked, want the one at the new end", n)
	}
}
