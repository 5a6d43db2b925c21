package load

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrTimeout is the error of a request unanswered for longer than its
// window's timeout.
var ErrTimeout = errors.New("timeout")

// An Answer is how one request of a Window ended.
type Answer[T any] struct {
	// Tag is what the request was sent with.
	Tag T
	// Msg is the reply, nil if the request failed without one.
	Msg *nats.Msg
	// Latency is the time from publishing the request to its end.
	Latency time.Duration
	// Err is ErrTimeout or the error of the publish when Msg is nil.
	Err error
}

// A Window sends requests on one connection, at most its size
// unanswered, and takes every reply on one subscription, the way
// JetStream's PublishAsync does. A request's reply subject names its slot
// in the window and the slot's generation, so that a reply arriving after
// its request timed out is recognised and dropped.
//
// One goroutine sends: it calls Acquire, then Send or Release, and Drain.
// Answers are handed to the window's callback from the subscription's
// goroutine, from the window's own timeout sweep, or from Send when the
// publish fails.
type Window[T any] struct {
	nc      *nats.Conn
	sub     *nats.Subscription
	inbox   string
	timeout time.Duration
	answer  func(Answer[T])
	free    chan int // slots with no request in flight
	stray   atomic.Int64

	// mu guards slots.
	mu    sync.Mutex
	slots []slot[T]

	sweepDone chan struct{}
	sweepWG   sync.WaitGroup
	closeOnce sync.Once
}

type slot[T any] struct {
	gen   uint64
	busy  bool
	tag   T
	start time.Time
}

// NewWindow subscribes to the replies of a window of size requests on nc
// and starts its timeout sweep. answer is called once for every request
// sent; it must not block for long, for it holds up other replies. Close
// stops the window; nc stays the caller's.
func NewWindow[T any](nc *nats.Conn, size int, timeout time.Duration, answer func(Answer[T])) (*Window[T], error) {
	switch {
	case size < 1:
		return nil, fmt.Errorf("load: window of %d requests", size)
	case timeout <= 0:
		return nil, fmt.Errorf("load: window timeout %v is not positive", timeout)
	case answer == nil:
		return nil, errors.New("load: window without an answer callback")
	}
	w := &Window[T]{nc: nc, inbox: nc.NewInbox(), timeout: timeout, answer: answer,
		free: make(chan int, size), slots: make([]slot[T], size), sweepDone: make(chan struct{})}
	for s := range size {
		w.free <- s
	}
	var err error
	if w.sub, err = nc.Subscribe(w.inbox+".*.*", w.reply); err == nil {
		// The window bounds what is pending; the client's default limit
		// would drop replies of a large one.
		err = w.sub.SetPendingLimits(-1, -1)
	}
	if err != nil {
		if w.sub != nil {
			w.sub.Unsubscribe()
		}
		return nil, fmt.Errorf("subscribe to replies: %w", err)
	}
	w.sweepWG.Go(w.sweep)
	return w, nil
}

// Acquire waits for a free slot and returns it, or returns false once
// stop is closed. A slot acquired must be passed to Send or Release.
func (w *Window[T]) Acquire(stop <-chan struct{}) (int, bool) {
	select {
	case <-stop:
		return 0, false
	case s := <-w.free:
		// A stop that came while waiting wins over the slot.
		select {
		case <-stop:
			w.free <- s
			return 0, false
		default:
			return s, true
		}
	}
}

// Release gives back a slot acquired but not sent on.
func (w *Window[T]) Release(s int) { w.free <- s }

// Send publishes body to subject as the request of slot s, tagged with
// tag. Its answer goes to the window's callback, after which the slot is
// free again.
func (w *Window[T]) Send(s int, subject string, body []byte, tag T) {
	w.mu.Lock()
	sl := &w.slots[s]
	sl.gen++
	sl.busy, sl.tag, sl.start = true, tag, time.Now()
	gen := sl.gen
	w.mu.Unlock()
	reply := w.inbox + "." + strconv.Itoa(s) + "." + strconv.FormatUint(gen, 10)
	if err := w.nc.PublishRequest(subject, reply, body); err != nil {
		w.finish(s, gen, nil, fmt.Errorf("publish: %w", err))
	}
}

// Drain waits until every request sent is answered or has timed out. It
// relies on the timeout sweep, so it must not follow Close.
func (w *Window[T]) Drain() {
	n := len(w.slots)
	for range n {
		<-w.free
	}
	for s := range n {
		w.free <- s
	}
}

// Stray counts the replies that matched no request in flight: answers
// after a timeout, second answers, replies on subjects the window did not
// make.
func (w *Window[T]) Stray() int64 { return w.stray.Load() }

// Close stops the sweep and the subscription. Requests still in flight
// get no answer. Close is idempotent and returns the error of the
// unsubscribe.
func (w *Window[T]) Close() error {
	var err error
	w.closeOnce.Do(func() {
		close(w.sweepDone)
		w.sweepWG.Wait()
		if err = w.sub.Unsubscribe(); errors.Is(err, nats.ErrConnectionClosed) {
			err = nil // the caller's connection took the subscription with it
		}
	})
	return err
}

// reply takes the answer to a request.
func (w *Window[T]) reply(m *nats.Msg) {
	slotStr, genStr, _ := strings.Cut(m.Subject[len(w.inbox)+1:], ".")
	s, err1 := strconv.Atoi(slotStr)
	gen, err2 := strconv.ParseUint(genStr, 10, 64)
	if err1 != nil || err2 != nil || s < 0 || s >= len(w.slots) {
		w.stray.Add(1)
		return
	}
	w.finish(s, gen, m, nil)
}

// finish ends the request in slot s of generation gen, answered by m or
// failed with err, unless it has ended already.
func (w *Window[T]) finish(s int, gen uint64, m *nats.Msg, err error) {
	w.mu.Lock()
	sl := &w.slots[s]
	if !sl.busy || sl.gen != gen {
		w.mu.Unlock()
		if m != nil {
			w.stray.Add(1)
		}
		return // answered after it timed out, or timed out as it was answered
	}
	sl.busy = false
	a := Answer[T]{Tag: sl.tag, Msg: m, Latency: time.Since(sl.start), Err: err}
	w.mu.Unlock()
	w.answer(a)
	w.free <- s
}

// sweep fails the requests unanswered for longer than the timeout.
func (w *Window[T]) sweep() {
	period := min(max(w.timeout/4, time.Millisecond), 100*time.Millisecond)
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-w.sweepDone:
			return
		case <-tick.C:
		}
		var late []int
		var gens []uint64
		w.mu.Lock()
		for i, sl := range w.slots {
			if sl.busy && time.Since(sl.start) > w.timeout {
				late, gens = append(late, i), append(gens, sl.gen)
			}
		}
		w.mu.Unlock()
		for i, s := range late {
			w.finish(s, gens[i], nil, ErrTimeout)
		}
	}
}
