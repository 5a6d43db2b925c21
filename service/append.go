package service

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// pendingAppend is an append written to the log and waiting for the
// committer to make it durable and acknowledge it.
type pendingAppend struct {
	reply       string
	first, last uint64
	start       time.Time // when the request came, for the metrics
	bytes       int       // of the request, for the metrics
}

// handleAppend validates and writes an append request, then leaves the
// sync and the reply to the committer, so that it never waits for the
// disk while other requests queue behind it.
func (s *Service) handleAppend(req micro.Request) {
	if !s.enter() {
		s.reject(req, messages.CodeUnavailable, "service is shutting down")
		return
	}
	defer s.inflight.Done()

	ar, err := messages.UnmarshalAppendRequest(req.Data(), s.cfg.MaxBatchRecords)
	if errors.Is(err, messages.ErrTooManyRecords) {
		s.reject(req, messages.CodeTooLarge, "append request: %v", err)
		return
	}
	if err != nil {
		s.reject(req, messages.CodeBadRequest, "decode append request: %v", err)
		return
	}
	if len(ar.Records) == 0 {
		s.reject(req, messages.CodeBadRequest, "append request has no records")
		return
	}
	if len(ar.Records) > s.cfg.MaxBatchRecords {
		s.reject(req, messages.CodeTooLarge, "append request has %d records, more than %d", len(ar.Records), s.cfg.MaxBatchRecords)
		return
	}
	rs := make([]*messages.Record, len(ar.Records))
	for i := range ar.Records {
		r := &ar.Records[i]
		if len(r.Value) == 0 && len(r.Key) == 0 {
			s.reject(req, messages.CodeBadRequest, "record %d has neither value nor key", i)
			return
		}
		if n := recordSize(r); n > s.maxRecordBytes {
			s.reject(req, messages.CodeTooLarge, "record %d takes up to %d bytes, more than %d", i, n, s.maxRecordBytes)
			return
		}
		// The log assigns both; a client cannot choose them.
		r.Offset, r.Timestamp = 0, 0
		rs[i] = r
	}

	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	select {
	case <-s.failed:
		s.reject(req, messages.CodeInternal, "%v", s.failErr)
		return
	default:
	}
	// Checked before writing: once written, the records must be queued,
	// or the committed offset could not advance past them. Only this
	// goroutine sends, under appendMu, so the check holds until the send.
	if len(s.queue) == cap(s.queue) {
		s.reject(req, messages.CodeUnavailable, "%d appends are waiting for the disk; retry later", cap(s.queue))
		return
	}
	before := s.log.NextOffset()
	first, err := s.log.AppendUnsynced(rs)
	if err != nil {
		switch {
		case errors.Is(err, segment.ErrRecordTooLarge):
			s.reject(req, messages.CodeTooLarge, "%v", err)
		case errors.Is(err, segment.ErrClosed):
			s.reject(req, messages.CodeUnavailable, "%v", err)
		default:
			s.reject(req, messages.CodeInternal, "%v", err)
		}
		if after := s.log.NextOffset(); after != before {
			// Records of a failed append are in the log; acknowledging
			// later appends would expose them.
			s.fail(fmt.Errorf("append failed after writing offsets %d to %d: %w", before, after-1, err))
		} else if errors.Is(err, segment.ErrFailed) {
			// A sync the log ran on its own (sealing a segment, or the
			// interval syncer) failed: the log refuses appends for good,
			// so say so rather than answer 500 for ever while ready.
			s.fail(err)
		}
		return
	}
	p := pendingAppend{reply: req.Reply(), first: first, last: first + uint64(len(rs)) - 1, start: requestStart(req), bytes: len(req.Data())}
	if s.cfg.SyncMode != segment.SyncAlways && s.uncommitted.Load() == 0 {
		// Nothing to sync and nothing ahead of it: commit here and save
		// the hand-over to the committer. Under SyncAlways the committer
		// must sync, so that requests arriving meanwhile share the sync.
		s.inlineBatch[0] = p
		s.inlineBody = s.commitBatch(s.inlineBatch[:], s.inlineBody)
		return
	}
	s.uncommitted.Add(1)
	s.queue <- p
}

// commit is the committer: it takes every append queued, syncs once for
// all of them when the mode asks for it, makes them visible to readers,
// announces them, and acknowledges them in order. It returns when Stop
// closes the queue, after acknowledging what the queue still held.
func (s *Service) commit() {
	defer close(s.committerDone)
	var batch []pendingAppend
	var body []byte
	for p := range s.queue {
		batch = append(batch[:0], p)
	drain:
		for {
			select {
			case p, ok := <-s.queue:
				if !ok {
					break drain
				}
				batch = append(batch, p)
			default:
				break drain
			}
		}
		body = s.commitBatch(batch, body)
		s.uncommitted.Add(-int64(len(batch)))
	}
}

// commitBatch commits one batch of contiguous appends; body is a buffer
// to reuse, returned for the next batch.
func (s *Service) commitBatch(batch []pendingAppend, body []byte) []byte {
	select {
	case <-s.failed:
		s.metrics.failed(batch, messages.CodeInternal)
		for _, p := range batch {
			s.replyError(p.reply, messages.CodeInternal, "%v", s.failErr)
		}
		return body
	default:
	}
	if s.cfg.SyncMode == segment.SyncAlways {
		if err := s.metrics.sync(s.log); err != nil {
			s.fail(fmt.Errorf("%w: %w", ErrSyncFailed, err))
			s.metrics.failed(batch, messages.CodeInternal)
			for _, p := range batch {
				s.replyError(p.reply, messages.CodeInternal, "sync: %v", err)
			}
			return body
		}
	}
	first, last := batch[0].first, batch[len(batch)-1].last
	// Visible to readers before anyone is told, so that a client that got
	// its reply or the notification can read the records at once.
	s.committed.Store(last + 1)
	s.signalPoller()

	body = appendOffsets(body[:0], "first_offset", first, "last_offset", last)
	if err := s.nc.Publish(s.subjects.Committed, body); err != nil {
		s.logger.Warn("publish commit notification", "first_offset", first, "last_offset", last, "error", err)
	}
	for _, p := range batch {
		body = appendOffsets(body[:0], "first_offset", p.first, "last_offset", p.last)
		s.replyData(p.reply, body)
	}
	s.metrics.committed(batch)
	return body
}
