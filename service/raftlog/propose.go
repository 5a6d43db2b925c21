package raftlog

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/evlog/evlog/service"
)

// The group commit. Append queues requests; the proposer, a goroutine
// the Log owns, takes everything queued once an in-flight slot is free
// and this node is done writing Raft's log (storeGate), and proposes it
// as one entry, so that the number of records per entry grows with the
// load. The waiter, another, waits for each entry's
// future in order, only to give up the appends of an entry that failed:
// the appends of an entry that commits are delivered by the FSM as it
// applies it, in Raft's order, on every node alike.

// proposal is an entry in Raft's pipeline.
type proposal struct {
	seq uint64
	f   raft.ApplyFuture
}

// runProposer proposes what is queued until the Log closes, then gives up
// what is still queued and closes the waiter's channel.
func (l *Log) runProposer() {
	defer close(l.waitq)
	for {
		select {
		case l.sem <- struct{}{}:
		case <-l.stop:
			l.giveUpQueued()
			return
		}
		if !l.awaitQueued() || !l.awaitStoreIdle() {
			<-l.sem
			l.giveUpQueued()
			return
		}
		seq, e, ok := l.takeQueued()
		if !ok {
			<-l.sem
			l.giveUpQueued()
			return
		}
		data, err := encodeEntry(e)
		if err != nil {
			l.giveUp(seq, err)
			<-l.sem
			continue
		}
		l.waitq <- proposal{seq: seq, f: l.raft.Apply(data, l.cfg.ApplyTimeout)}
	}
}

// awaitQueued waits for an append to be queued. It returns false once
// the Log is closed.
func (l *Log) awaitQueued() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.queue) == 0 && !l.closed {
		l.cond.Wait()
	}
	return !l.closed
}

// awaitStoreIdle waits until this node is not writing Raft's log, so
// that the next entry takes what queues during the write under way
// rather than wait through it (see storeGate). A write that takes longer
// than ApplyTimeout (a hung disk) is waited for no more: the proposal
// then goes to Raft, and fails there after ApplyTimeout as it did before
// the gate, so that its appends are answered. It returns false once the
// Log is stopping.
func (l *Log) awaitStoreIdle() bool {
	idle := l.gate.idleCh()
	select {
	case <-idle:
		return true
	default:
	}
	t := time.NewTimer(l.cfg.ApplyTimeout)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	case <-l.stop:
		return false
	}
	return true
}

// takeQueued waits for queued appends and takes as many as fit in one
// entry, at least one, registering them as pending under a new sequence
// number. It returns false once the Log is closed.
func (l *Log) takeQueued() (uint64, *entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.queue) == 0 && !l.closed {
		l.cond.Wait()
	}
	if l.closed {
		return 0, nil, false
	}
	n, size := 0, 0
	for n < len(l.queue) && (n == 0 || size < l.cfg.MaxEntryBytes) {
		for _, r := range l.queue[n].Records {
			size += len(r.Value) + len(r.Key) + 32
		}
		n++
	}
	batch := make([]*service.Append, n)
	copy(batch, l.queue)
	rest := copy(l.queue, l.queue[n:])
	clear(l.queue[rest:])
	l.queue = l.queue[:rest]
	l.seq++
	l.pending[l.seq] = batch
	e := &entry{Op: opAppend, TS: time.Now().UnixNano(), Origin: l.origin, Seq: l.seq, Appends: make([]entryAppend, n)}
	for i, a := range batch {
		e.Appends[i] = entryAppend{ID: a.ID, Expected: a.ExpectedOffset, Records: a.Records}
	}
	return l.seq, e, true
}

// runWaiter waits for the proposals in order and gives up the appends of
// those that failed, and of those that applied without delivering them
// (unsettled), so that Detach never waits for them.
func (l *Log) runWaiter() {
	for p := range l.waitq {
		if err := p.f.Error(); err != nil {
			l.giveUp(p.seq, applyError(err))
		} else {
			l.giveUp(p.seq, unsettled(p.f.Response()))
		}
		<-l.sem
	}
}

// unsettled is the error of the appends of an entry that Raft applied
// without the FSM delivering them, resp being what Apply returned: the
// entry could not apply (no log, an undecodable entry), or its index was
// at or below what the state machine held. Raft answers a future only
// after Apply has returned, so by then a delivery would have been made.
func unsettled(resp any) error {
	if r, ok := resp.(*applyResult); ok && r.err != nil {
		return applyError(r.err)
	}
	return fmt.Errorf("%w: the entry applied without delivering its appends: the state machine is ahead of raft's log", service.ErrLogFailed)
}

// applyError says what a failed proposal means for its appends: Raft
// refused it before it entered the log (retry elsewhere), or it may yet
// commit under the next leader (the outcome is unknown: a retry must
// carry the append's id).
func applyError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress),
		errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w", service.ErrUnavailable, err)
	}
	return fmt.Errorf("replication: the append may or may not commit: %w", err)
}

// giveUp delivers the pending appends of proposal seq, if they have not
// been delivered by the FSM, as given up with err.
func (l *Log) giveUp(seq uint64, err error) {
	l.mu.Lock()
	batch := l.pending[seq]
	delete(l.pending, seq)
	l.mu.Unlock()
	if batch == nil {
		return
	}
	l.deliver(service.Commit{Appends: batch, Err: err})
	l.delivered(len(batch))
}

// giveUpQueued gives up the appends queued and not proposed: the Log is
// closing.
func (l *Log) giveUpQueued() {
	l.mu.Lock()
	batch := l.queue
	l.queue = nil
	l.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	l.deliver(service.Commit{Appends: batch, Err: fmt.Errorf("%w: log is closed", service.ErrUnavailable)})
	l.delivered(len(batch))
}

// onApply delivers what the FSM applied: a Commit for the records the
// entry wrote, with the appends of this process it completes (new records
// first, then duplicates), or an Empty one for duplicates only; then a
// Commit that gives up each append that the apply refused.
func (l *Log) onApply(e *entry, r *applyResult) {
	if e.Op != opAppend {
		return
	}
	var mine []*service.Append
	if e.Origin == l.origin {
		l.mu.Lock()
		mine = l.pending[e.Seq]
		delete(l.pending, e.Seq)
		l.mu.Unlock()
	}
	if len(r.outcomes) != len(mine) {
		// The entry did not apply at all (r.err says why).
		err := r.err
		if err == nil {
			err = fmt.Errorf("%w: entry %d applied without outcomes", service.ErrLogFailed, e.Seq)
		}
		if len(mine) > 0 {
			l.deliver(service.Commit{Appends: mine, Err: err})
			l.delivered(len(mine))
		}
		return
	}
	var done, dups []*service.Append
	for i, a := range mine {
		o := r.outcomes[i]
		a.First, a.Last, a.Duplicate = o.First, o.Last, o.Duplicate
		switch {
		case o.Err != nil:
			// Given up below, each with its own error.
		case o.Duplicate:
			dups = append(dups, a)
		default:
			done = append(done, a)
		}
	}
	if r.wrote || len(dups) > 0 {
		c := service.Commit{Appends: append(done, dups...), First: r.First, Last: r.Last, Empty: !r.wrote}
		l.deliver(c)
	}
	for i, a := range mine {
		if err := r.outcomes[i].Err; err != nil {
			l.deliver(service.Commit{Appends: []*service.Append{a}, Err: err})
		}
	}
	l.delivered(len(mine))
}

// deliver hands c to the CommitFunc, one Commit at a time.
func (l *Log) deliver(c service.Commit) {
	l.deliverMu.Lock()
	defer l.deliverMu.Unlock()
	l.receiver.Deliver(c)
}

// delivered counts n accepted appends as delivered, for Detach.
func (l *Log) delivered(n int) {
	if n == 0 {
		return
	}
	l.mu.Lock()
	l.outstanding -= n
	l.mu.Unlock()
	l.cond.Broadcast()
}
