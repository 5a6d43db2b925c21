package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment/snapshot"
)

// Limits of one read from the log while streaming a snapshot: memory stays
// at about snapshotBatchBytes, or one record when a record is larger.
const (
	snapshotBatchRecords = 1024
	snapshotBatchBytes   = 1 << 20
)

// errAbandoned ends a snapshot whose requester stopped acknowledging its
// chunks, or said it gave up. It is answered with 503: a requester that is
// still there may ask again.
var errAbandoned = fmt.Errorf("%w: snapshot abandoned", ErrUnavailable)

// handleSnapshot checks a snapshot request and hands it to a goroutine of
// its own, which streams the snapshot to the request's reply subject; see
// snapshotStream for the protocol.
func (s *Service) handleSnapshot(req micro.Request) {
	if !s.enter() {
		s.reject(req, errStopping)
		return
	}
	defer s.inflight.Done()

	var sr messages.SnapshotRequest
	// An empty body, like info's, asks for the whole log.
	if body := req.Data(); len(bytes.TrimSpace(body)) > 0 {
		if err := requestFormat(req).Unmarshal(body, &sr); err != nil {
			s.reject(req, fmt.Errorf("%w: decode snapshot request: %v", ErrBadRequest, err))
			return
		}
	}
	if req.Reply() == "" {
		// Published, not requested: there is nowhere to stream to.
		s.logger.Debug("snapshot request without a reply subject", "subject", req.Subject())
		return
	}
	// The range is fixed here, as of the request: records committed
	// while the snapshot streams are not in it.
	next := s.log.CommittedOffset()
	if sr.From > next {
		s.reject(req, s.outOfRange(sr.From, next))
		return
	}
	h := snapshot.Header{LogID: s.log.ID(), First: max(sr.From, min(s.log.Stats().LowestOffset, next)), Next: next}
	st, err := s.newSnapshotStream(req.Reply(), h)
	if err != nil {
		s.reject(req, err)
		return
	}
	start := requestStart(req)
	if !s.snapshots.start(func(ctx context.Context) { s.runSnapshot(ctx, st, start) }) {
		st.close()
		s.reject(req, fmt.Errorf("%w: %d snapshots are already streaming; retry later", ErrUnavailable, s.cfg.MaxSnapshots))
	}
}

// runSnapshot streams st and answers a failure with an error chunk. It
// runs on a goroutine of the snapshot runner.
func (s *Service) runSnapshot(ctx context.Context, st *snapshotStream, start time.Time) {
	defer st.close()
	err := s.writeSnapshot(ctx, st)
	code := codeOK
	if err != nil {
		code = codeOf(err)
		if errors.Is(err, errAbandoned) {
			s.metrics.snapshotsAbandoned.Add(1)
		}
		s.logger.Warn("snapshot failed", "first", st.h.First, "next", st.h.Next, "chunks", st.seq, "error", err)
		st.sendError(err)
	} else if st.h.Next > st.h.First {
		// The event is the log line of a snapshot sent, too. An empty
		// snapshot covers no record, so no event names one.
		s.PublishEvent(messages.Event{Type: messages.EventSnapshot, FirstOffset: st.h.First, LastOffset: st.h.Next - 1, Bytes: uint64(st.sent)})
	}
	s.metrics.answered(epSnapshot, code, start)
}

// writeSnapshot writes the snapshot of st.h to st, reading the log a batch
// at a time with ReadRawBatch, so that no lock is held across the stream
// and appends go on meanwhile.
func (s *Service) writeSnapshot(ctx context.Context, st *snapshotStream) error {
	sw, err := snapshot.NewWriter(st, st.h)
	if err != nil {
		return err
	}
	var (
		buf []byte
		br  bytes.Reader
		dec = msgpack.NewDecoder(&br)
	)
	for off := st.h.First; off < st.h.Next; {
		if ctx.Err() != nil {
			return errStopping
		}
		b, err := s.log.ReadRawBatch(off, int(min(st.h.Next-off, snapshotBatchRecords)), snapshotBatchBytes, buf[:0])
		if errors.Is(err, ErrTooLarge) {
			b, err = s.log.ReadRawBatch(off, 1, math.MaxInt, buf[:0])
		}
		if err == nil && b.N == 0 {
			err = errors.New("the log returned no record")
		}
		if err != nil {
			return fmt.Errorf("snapshot: read %d of [%d, %d): %w", off, st.h.First, st.h.Next, err)
		}
		buf = b.Records
		// The records come back to back: skipping each finds its end.
		br.Reset(b.Records)
		dec.Reset(&br)
		for range b.N {
			start := len(b.Records) - br.Len()
			if err := dec.Skip(); err != nil {
				return fmt.Errorf("snapshot: record %d: %w", off, err)
			}
			if err := sw.WriteRaw(b.Records[start : len(b.Records)-br.Len()]); err != nil {
				return err
			}
			off++
		}
	}
	if err := sw.Close(); err != nil {
		return err
	}
	return st.finish()
}

// snapshotRunner owns the goroutines that stream snapshots: it bounds
// their number, and stop ends them and waits for them.
type snapshotRunner struct {
	max    int
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards n, the goroutines running.
	mu sync.Mutex
	n  int
}

func newSnapshotRunner(max int) *snapshotRunner {
	ctx, cancel := context.WithCancel(context.Background())
	return &snapshotRunner{max: max, ctx: ctx, cancel: cancel}
}

// start runs fn on a goroutine of its own, with a context that stop
// cancels, unless max goroutines are running already or the runner has
// stopped.
func (r *snapshotRunner) start(fn func(ctx context.Context)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n >= r.max || r.ctx.Err() != nil {
		return false
	}
	r.n++
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			r.n--
			r.mu.Unlock()
		}()
		fn(r.ctx)
	}()
	return true
}

// running returns how many snapshots are streaming.
func (r *snapshotRunner) running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// stop cancels every snapshot and waits until their goroutines have
// ended. It is idempotent.
func (r *snapshotRunner) stop() {
	r.mu.Lock()
	r.cancel()
	r.mu.Unlock()
	r.wg.Wait()
}
