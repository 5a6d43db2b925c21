package raftlog

import (
	"sync"

	"github.com/hashicorp/raft"
)

// storeGate is Raft's log store as Raft sees it (the log cache over
// raft-wal), and tells the proposer when this node is writing to it.
//
// Raft's leader loop takes one proposal at a time from an unbuffered
// channel and writes it, with its fsync, before it takes the next. A
// proposer that took the queued appends at once would wait in Apply with
// them through the write of the entry before: the appends that queue up
// meanwhile wait a whole write more. So the proposer takes the queue only
// once the write under way is done (see runProposer), and the entry holds
// everything that queued during it: at 64 appends in flight, one write
// less of latency for each append, and fewer, larger writes on every
// node, which share the disk's fsyncs.
type storeGate struct {
	*raft.LogCache

	mu sync.Mutex
	// writing counts the StoreLogs calls under way; idle is closed while
	// it is 0, and replaced by an open channel when it rises.
	writing int
	idle    chan struct{}
}

func newStoreGate(c *raft.LogCache) *storeGate {
	idle := make(chan struct{})
	close(idle)
	return &storeGate{LogCache: c, idle: idle}
}

// StoreLog stores one entry, as StoreLogs does.
func (g *storeGate) StoreLog(log *raft.Log) error {
	return g.StoreLogs([]*raft.Log{log})
}

// StoreLogs stores logs, marking the store busy while it does.
func (g *storeGate) StoreLogs(logs []*raft.Log) error {
	g.mu.Lock()
	if g.writing == 0 {
		g.idle = make(chan struct{})
	}
	g.writing++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.writing--
		if g.writing == 0 {
			close(g.idle)
		}
		g.mu.Unlock()
	}()
	return g.LogCache.StoreLogs(logs)
}

// idleCh returns a channel that is closed once no write is under way:
// already closed if none is.
func (g *storeGate) idleCh() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.idle
}
