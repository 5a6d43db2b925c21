package service

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/evlog/evlog/messages"
)

// parkedRead is a long-poll read waiting for records to commit.
type parkedRead struct {
	reply    string
	req      messages.ReadRequest
	format   messages.Format // of the request, and so of the reply
	deadline time.Time
}

type parkResult int

const (
	parked parkResult = iota
	parkFull
	parkCommitted
)

// poller holds the long-poll reads that wait at the committed offset.
// The commit path answers them when records commit (answerCommitted), so
// that a follower hears of a record without a hand-over to another
// goroutine; the poller's own goroutine answers those whose wait expires,
// any a commit left (a read parked as the commit was delivered), and all
// of them when it is closed. It owns that goroutine: newPoller starts it
// and close stops it.
type poller struct {
	log    Log
	max    int
	answer answerFunc

	// mu guards parked. It is never held while answering.
	mu     sync.Mutex
	parked []*parkedRead
	// waiting is len(parked), so that a commit with no read parked
	// does not take mu. A read that parks just as a commit looks is
	// the goroutine's, which wakes on the same commit.
	waiting atomic.Int64
	// ready is answerCommitted's buffer, the commit path's own:
	// commits are delivered one at a time, so one serves them all.
	ready []*parkedRead
	// wake tells the goroutine that a read parked.
	wake chan struct{}

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// answerFunc replies to a parked read that is due; stopping says the
// poller is closing, which is why the read is due unless records have
// committed for it.
type answerFunc func(r *parkedRead, stopping bool)

// newPoller starts a poller of at most max reads waiting on log; answer
// replies to a read that is due.
func newPoller(log Log, max int, answer answerFunc) *poller {
	p := &poller{
		log:    log,
		max:    max,
		answer: answer,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go p.run()
	return p
}

// park adds r unless records have committed beyond r's offset meanwhile
// (parkCommitted: answer now) or max reads already wait (parkFull).
func (p *poller) park(r *parkedRead) parkResult {
	p.mu.Lock()
	// Checked under mu: the goroutine takes its commit channel before it
	// scans under mu, so a read parked here is either seen by that scan
	// or sees the new offset now.
	if p.log.CommittedOffset() != r.req.Offset {
		p.mu.Unlock()
		return parkCommitted
	}
	if len(p.parked) >= p.max {
		p.mu.Unlock()
		return parkFull
	}
	p.parked = append(p.parked, r)
	p.waiting.Store(int64(len(p.parked)))
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return parked
}

// len returns how many reads wait.
func (p *poller) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// close answers every read still waiting and stops the goroutine. It is
// idempotent.
func (p *poller) close() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

func (p *poller) run() {
	defer close(p.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var ready []*parkedRead
	for {
		// Taken before the scan reads the offset, so that a commit
		// after the scan wakes the next round.
		changed := p.log.CommitChanged()
		stopping := false
		select {
		case <-p.stop:
			stopping = true
		default:
		}
		now := time.Now()
		var earliest time.Time
		ready, earliest = p.due(ready, now, stopping)
		for _, r := range ready {
			p.answer(r, stopping)
		}
		clear(ready)
		ready = ready[:0]
		if stopping {
			return
		}
		if !earliest.IsZero() {
			timer.Reset(earliest.Sub(now))
		}
		select {
		case <-changed:
		case <-p.wake:
		case <-timer.C:
		case <-p.stop:
		}
	}
}

// due moves to ready the reads that records, their deadline or stopping
// have made due, and returns the earliest deadline of those left.
func (p *poller) due(ready []*parkedRead, now time.Time, stopping bool) ([]*parkedRead, time.Time) {
	var earliest time.Time
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.log.CommittedOffset()
	keep := p.parked[:0]
	for _, r := range p.parked {
		if stopping || r.req.Offset != next || !now.Before(r.deadline) {
			ready = append(ready, r)
			continue
		}
		keep = append(keep, r)
		if earliest.IsZero() || r.deadline.Before(earliest) {
			earliest = r.deadline
		}
	}
	clear(p.parked[len(keep):])
	p.parked = keep
	p.waiting.Store(int64(len(keep)))
	return ready, earliest
}

// answerCommitted answers, on the caller's goroutine, the reads that
// records committed since they parked have made due. The service calls it
// from its CommitFunc, after CommittedOffset has moved; a read that parks
// meanwhile saw the new offset and was answered at once, or is left to the
// goroutine, which wakes on the same commit. Reads past their deadline are
// the goroutine's too, so that one answer owns each read.
func (p *poller) answerCommitted() {
	if p.waiting.Load() == 0 {
		return
	}
	p.mu.Lock()
	next := p.log.CommittedOffset()
	ready, keep := p.ready[:0], p.parked[:0]
	for _, r := range p.parked {
		if r.req.Offset != next {
			ready = append(ready, r)
			continue
		}
		keep = append(keep, r)
	}
	clear(p.parked[len(keep):])
	p.parked = keep
	p.waiting.Store(int64(len(keep)))
	p.mu.Unlock()
	for _, r := range ready {
		p.answer(r, false)
	}
	clear(ready)
	p.ready = ready[:0]
}
