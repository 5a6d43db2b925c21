package service

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"
)

// Leadership says whether this instance's log is the one that takes
// writes, as the leader of a replicated log does (raftlog.Log implements
// it). With Config.Leadership set, the service is one node of a cluster:
// it does not probe the prefix, serves the read endpoints in
// Config.ReadQueueGroup, registers the write endpoints (append, truncate)
// only while Leader is true, answers an append or truncate that still
// reaches it as a follower with 503 and the leader's id
// (messages.LeaderHeader), and publishes Committed notifications only
// while it leads.
type Leadership interface {
	// Leader says whether this node takes writes now.
	Leader() bool
	// LeaderChanged returns a channel closed when Leader next changes:
	// take the channel, then read Leader, then wait on the channel.
	LeaderChanged() <-chan struct{}
	// LeaderAddr returns the address and the id of the leader as this
	// node knows it, both empty when it knows none.
	LeaderAddr() (addr, id string)
}

// NotLeaderError refuses a write on a node that is not the leader. It
// matches ErrUnavailable, so it is answered with 503, and the reply names
// the leader in messages.LeaderHeader, so that a client may go there.
type NotLeaderError struct {
	// LeaderID and LeaderAddr name the leader as this node knows it;
	// both are empty when it knows none (an election is under way).
	LeaderID, LeaderAddr string
}

// Error names the leader.
func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return fmt.Sprintf("%s: not the leader, and no leader is known (an election may be under way); retry", ErrUnavailable)
	}
	return fmt.Sprintf("%s: not the leader; the leader is %s at %s", ErrUnavailable, e.LeaderID, e.LeaderAddr)
}

// Unwrap returns ErrUnavailable.
func (e *NotLeaderError) Unwrap() error { return ErrUnavailable }

// notLeader is the NotLeaderError of ld now.
func notLeader(ld Leadership) *NotLeaderError {
	addr, id := ld.LeaderAddr()
	return &NotLeaderError{LeaderID: id, LeaderAddr: addr}
}

// behind is the error of a read beyond what a node of a cluster has
// applied. Another node may have applied it already, or this one will
// shortly: the read is retried (503), where a single node answers 404.
func behind(off, next uint64) error {
	return fmt.Errorf("%w: offset %d is beyond %d, the offset this node of the cluster has applied up to; retry", ErrUnavailable, off, next)
}

// leaderLog is the Log of a cluster node as the handlers see it: a
// write on a node that is not the leader is refused with a
// NotLeaderError, before the log is asked or when the log refuses it
// because it lost the leadership meanwhile.
type leaderLog struct {
	Log
	ld Leadership
}

// Append refuses a on a follower.
func (l leaderLog) Append(a *Append) error {
	if !l.ld.Leader() {
		return notLeader(l.ld)
	}
	err := l.Log.Append(a)
	if errors.Is(err, ErrUnavailable) && !l.ld.Leader() {
		return errors.Join(notLeader(l.ld), err)
	}
	return err
}

// TruncateFront refuses on a follower.
func (l leaderLog) TruncateFront(lowest uint64) (uint64, error) {
	if !l.ld.Leader() {
		return 0, notLeader(l.ld)
	}
	n, err := l.Log.TruncateFront(lowest)
	if errors.Is(err, ErrUnavailable) && !l.ld.Leader() {
		return n, errors.Join(notLeader(l.ld), err)
	}
	return n, err
}

// leaderWrites registers the write endpoints, on a micro service of
// their own, while the node leads. Its goroutine follows the leadership
// from start until stop, which also removes the endpoints.
type leaderWrites struct {
	s    *Service
	ld   Leadership
	stop chan struct{}
	done chan struct{}

	// mu guards writes, the micro service of the write endpoints while
	// this node leads, closed, and add, which starts that service
	// (s.addWriteService; tests make it fail).
	mu     sync.Mutex
	writes micro.Service
	closed bool
	add    func() (micro.Service, error)
}

// Backoff of a leader whose write endpoints could not be added: it tries
// again, since no leadership change may come to make it.
const (
	leadRetryMin = 50 * time.Millisecond
	leadRetryMax = 2 * time.Second
)

// startLeaderWrites starts following ld's leadership for s.
func startLeaderWrites(s *Service, ld Leadership) *leaderWrites {
	w := &leaderWrites{s: s, ld: ld, stop: make(chan struct{}), done: make(chan struct{}), add: s.addWriteService}
	go w.run()
	return w
}

func (w *leaderWrites) run() {
	defer close(w.done)
	var backoff time.Duration
	for {
		changed := w.ld.LeaderChanged()
		var again *time.Timer
		switch {
		case !w.ld.Leader():
			w.follow()
			backoff = 0
		case w.lead():
			backoff = 0
		default:
			backoff = min(max(2*backoff, leadRetryMin), leadRetryMax)
			again = time.NewTimer(backoff)
		}
		if !w.wait(changed, again) {
			return
		}
	}
}

// wait waits for the leadership to change or, if again is set, for it to
// fire; it returns false once the goroutine must stop.
func (w *leaderWrites) wait(changed <-chan struct{}, again *time.Timer) bool {
	var fired <-chan time.Time
	if again != nil {
		defer again.Stop()
		fired = again.C
	}
	select {
	case <-changed:
	case <-fired:
	case <-w.stop:
		return false
	}
	return true
}

// lead announces what the previous leader may not have, then adds the
// write endpoints, unless they are up already. It returns false if they
// could not be added: the leader then takes no writes until run tries
// again.
func (w *leaderWrites) lead() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writes != nil || w.closed {
		return true
	}
	w.s.announcer.catchUp(w.s.log.CommittedOffset())
	ms, err := w.add()
	if err != nil {
		w.s.logger.Error("leader: cannot serve the write endpoints; trying again", "error", err)
		return false
	}
	w.writes = ms
	w.s.logger.Info("leader: serving appends and truncates", "append", w.s.subjects.Append, "next_offset", w.s.log.CommittedOffset())
	return true
}

// follow removes the write endpoints, if they are up. Requests already
// on their way are answered 503 by leaderLog.
func (w *leaderWrites) follow() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writes == nil {
		return
	}
	if err := w.writes.Stop(); err != nil {
		w.s.logger.Warn("stop the write endpoints", "error", err)
	}
	w.writes = nil
	_, id := w.ld.LeaderAddr()
	w.s.logger.Info("follower: write endpoints removed", "leader", id)
}

// close stops the goroutine and removes the write endpoints. It is
// idempotent.
func (w *leaderWrites) close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.stop)
	w.mu.Unlock()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writes == nil {
		return nil
	}
	err := w.writes.Stop()
	w.writes = nil
	if err != nil {
		return fmt.Errorf("stop the write endpoints: %w", err)
	}
	return nil
}

// addWriteService adds a micro service with the write endpoints and the
// membership changes, for the leader of a cluster.
func (s *Service) addWriteService() (micro.Service, error) {
	ms, err := micro.AddService(s.nc, s.microConfig("write endpoints of the cluster's leader"))
	if err != nil {
		return nil, fmt.Errorf("add micro service: %w", err)
	}
	if err := s.addWrites(ms); err != nil {
		return nil, errors.Join(err, ms.Stop())
	}
	if s.cfg.Membership != nil {
		if err := s.addMembership(ms); err != nil {
			return nil, errors.Join(err, ms.Stop())
		}
	}
	if err := s.nc.FlushTimeout(flushTimeout); err != nil {
		return nil, errors.Join(fmt.Errorf("flush subscriptions: %w", err), ms.Stop())
	}
	return ms, nil
}

// addWrites adds the write endpoints to ms, with no queue group, so that
// a second instance on the same prefix would receive every request too,
// rather than silently taking half of the appends into another log.
func (s *Service) addWrites(ms micro.Service) error {
	g := ms.AddGroup(s.cfg.Prefix, micro.WithGroupQueueGroupDisabled())
	for _, e := range []struct {
		ep endpoint
		h  micro.HandlerFunc
	}{{epAppend, s.handleAppend}, {epTruncate, s.handleTruncate}} {
		name := endpointNames[e.ep]
		if err := g.AddEndpoint(name, s.observe(e.ep, e.h), micro.WithEndpointQueueGroupDisabled()); err != nil {
			return fmt.Errorf("add endpoint %s: %w", name, err)
		}
	}
	return nil
}
