package raftlog

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// progress is what the leader knows of each follower's log, for the
// promotion of non-voters: the highest index up to which the follower's
// log is known to match the leader's, and when the follower last
// answered at all. hashicorp/raft keeps a match index per follower but
// does not expose it, so progressTransport learns it from the replies.
type progress struct {
	mu    sync.Mutex
	marks map[raft.ServerID]progressMark
}

type progressMark struct {
	match uint64    // the follower's log matches the leader's up to here
	heard time.Time // its last successful reply
}

func newProgress() *progress { return &progress{marks: make(map[raft.ServerID]progressMark)} }

// record notes a successful reply of id; match is the index up to which
// that reply proves the logs match (0 for a heartbeat, which proves
// nothing about the log).
func (p *progress) record(id raft.ServerID, match uint64) {
	p.mu.Lock()
	m := p.marks[id]
	p.marks[id] = progressMark{match: max(m.match, match), heard: time.Now()}
	p.mu.Unlock()
}

// matched returns the index up to which id's log is known to match the
// leader's, if id answered within maxAge.
func (p *progress) matched(id raft.ServerID, maxAge time.Duration) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.marks[id]
	if !ok || time.Since(m.heard) > maxAge {
		return 0, false
	}
	return m.match, true
}

func (p *progress) forget(id raft.ServerID) {
	p.mu.Lock()
	delete(p.marks, id)
	p.mu.Unlock()
}

// matchedBy returns the index up to which a successful reply to args
// proves the follower's log matches the leader's: the request's last
// entry, or its previous entry when it carries none. A follower accepts
// an AppendEntries only when it holds the previous entry at the same
// term, and then holds every entry sent, so the logs match up to there.
// A heartbeat names no previous entry (0) and is accepted without any
// check: its reply's LastLog is the follower's last index whatever that
// log holds, which is why it is not used (a node added with an old log
// of its own would look caught up at once).
func matchedBy(args *raft.AppendEntriesRequest) uint64 {
	if n := len(args.Entries); n > 0 {
		return args.Entries[n-1].Index
	}
	return args.PrevLogEntry
}

// accepted says whether resp is a follower's success at args' term.
func accepted(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) bool {
	return resp.Success && resp.Term == args.Term
}

// progressTransport is Raft's transport, recording each follower's
// progress from its replies to AppendEntries, sent one at a time
// (heartbeats, catching up) or pipelined (steady replication).
type progressTransport struct {
	*raft.NetworkTransport
	progress *progress
}

// AppendEntries sends the RPC and records what a successful reply says.
func (t *progressTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress,
	args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := t.NetworkTransport.AppendEntries(id, target, args, resp)
	if err == nil && accepted(args, resp) {
		t.progress.record(id, matchedBy(args))
	}
	return err
}

// AppendEntriesPipeline opens Raft's pipeline to a follower, with its
// replies recorded as they are consumed.
func (t *progressTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := t.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	pp := &progressPipeline{AppendPipeline: p, id: id, progress: t.progress,
		out: make(chan raft.AppendFuture), stop: make(chan struct{}), done: make(chan struct{})}
	go pp.forward()
	return pp, nil
}

// progressPipeline passes a pipeline's finished futures on to Raft,
// recording each success first. Its forwarding goroutine ends when the
// pipeline is closed.
type progressPipeline struct {
	raft.AppendPipeline
	id       raft.ServerID
	progress *progress
	out      chan raft.AppendFuture
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

func (p *progressPipeline) forward() {
	defer close(p.done)
	in := p.AppendPipeline.Consumer()
	for {
		var f raft.AppendFuture
		select {
		case f = <-in:
		case <-p.stop:
			return
		}
		if f.Error() == nil && accepted(f.Request(), f.Response()) {
			p.progress.record(p.id, matchedBy(f.Request()))
		}
		select {
		case p.out <- f:
		case <-p.stop:
			return
		}
	}
}

// Consumer returns the channel of finished futures, as recorded.
func (p *progressPipeline) Consumer() <-chan raft.AppendFuture { return p.out }

// Close closes the pipeline and ends the forwarding goroutine.
func (p *progressPipeline) Close() error {
	err := p.AppendPipeline.Close()
	p.once.Do(func() { close(p.stop) })
	<-p.done
	return err
}
