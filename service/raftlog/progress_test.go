package raftlog

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestProgressIgnoresHeartbeats: a heartbeat's success says nothing of
// the follower's log, so a node whose own log is long (added with an old
// directory) does not look caught up from it; the index an accepted
// AppendEntries carried does count.
func TestProgressIgnoresHeartbeats(t *testing.T) {
	p := newProgress()
	heartbeat := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{}, Term: 3}
	ok := &raft.AppendEntriesResponse{Term: 3, Success: true, LastLog: 1000}
	if accepted(heartbeat, ok) {
		p.record("n4", matchedBy(heartbeat))
	}
	if m, heard := p.matched("n4", time.Minute); !heard || m != 0 {
		t.Fatalf("after a heartbeat answered with last index 1000: matched %d (heard %v), want 0", m, heard)
	}
	appendReq := &raft.AppendEntriesRequest{Term: 3, PrevLogEntry: 5, PrevLogTerm: 2,
		Entries: []*raft.Log{{Index: 6, Term: 3}, {Index: 7, Term: 3}}}
	if accepted(appendReq, ok) {
		p.record("n4", matchedBy(appendReq))
	}
	probe := &raft.AppendEntriesRequest{Term: 3, PrevLogEntry: 9, PrevLogTerm: 3}
	if accepted(probe, &raft.AppendEntriesResponse{Term: 3, Success: false}) {
		p.record("n4", matchedBy(probe)) // a refusal proves nothing
	}
	if m, _ := p.matched("n4", time.Minute); m != 7 {
		t.Fatalf("matched %d after entries up to 7 were accepted, want 7", m)
	}
	if accepted(appendReq, &raft.AppendEntriesResponse{Term: 4, Success: true}) {
		t.Fatal("a reply at another term counted as accepted")
	}
	if _, heard := p.matched("n4", -time.Second); heard {
		t.Fatal("an old reply counted as heard lately")
	}
}

// fakePipeline is a raft.AppendPipeline whose futures the test sends.
type fakePipeline struct {
	ch     chan raft.AppendFuture
	closed bool
}

func (f *fakePipeline) AppendEntries(*raft.AppendEntriesRequest, *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	return nil, nil
}
func (f *fakePipeline) Consumer() <-chan raft.AppendFuture { return f.ch }
func (f *fakePipeline) Close() error                       { f.closed = true; return nil }

type fakeFuture struct {
	req  *raft.AppendEntriesRequest
	resp *raft.AppendEntriesResponse
}

func (f fakeFuture) Error() error                          { return nil }
func (f fakeFuture) Start() time.Time                      { return time.Time{} }
func (f fakeFuture) Request() *raft.AppendEntriesRequest   { return f.req }
func (f fakeFuture) Response() *raft.AppendEntriesResponse { return f.resp }

// TestProgressPipeline: the pipeline's futures reach Raft in order, each
// success recorded first, and Close ends the forwarding goroutine even
// when Raft no longer consumes (goleak checks it).
func TestProgressPipeline(t *testing.T) {
	p := newProgress()
	inner := &fakePipeline{ch: make(chan raft.AppendFuture)}
	pp := &progressPipeline{AppendPipeline: inner, id: "n2", progress: p,
		out: make(chan raft.AppendFuture), stop: make(chan struct{}), done: make(chan struct{})}
	go pp.forward()
	for i := uint64(1); i <= 3; i++ {
		f := fakeFuture{&raft.AppendEntriesRequest{Term: 2, PrevLogEntry: i * 10}, &raft.AppendEntriesResponse{Term: 2, Success: true}}
		inner.ch <- f
		if got := <-pp.Consumer(); got.Request().PrevLogEntry != i*10 {
			t.Fatalf("future %d forwarded as %+v", i, got.Request())
		}
		if m, _ := p.matched("n2", time.Minute); m != i*10 {
			t.Fatalf("matched %d after future %d, want %d", m, i, i*10)
		}
	}
	inner.ch <- fakeFuture{&raft.AppendEntriesRequest{Term: 2, PrevLogEntry: 40}, &raft.AppendEntriesResponse{Term: 2, Success: true}}
	// Raft stopped consuming: Close must not wait for it.
	if err := pp.Close(); err != nil || !inner.closed {
		t.Fatalf("close: %v, inner closed %v", err, inner.closed)
	}
}
