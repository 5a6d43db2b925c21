package service

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/evlog/evlog/messages"
)

// handleAppend checks an append request and hands it to the log, leaving
// the reply to onCommit, so that it never waits for the disk while other
// requests queue behind it.
func (s *Service) handleAppend(req micro.Request) {
	if !s.enter() {
		s.reject(req, errStopping)
		return
	}
	defer s.inflight.Done()

	f := requestFormat(req)
	rs, err := s.decodeAppend(f, req.Data())
	if err != nil {
		s.reject(req, err)
		return
	}
	if !s.admit() {
		s.reject(req, fmt.Errorf("%w: %d appends are waiting for the disk; retry later", ErrUnavailable, s.cfg.MaxPendingAppends))
		return
	}
	p := pendingAppends.Get().(*pendingAppend)
	p.Records, p.Token = rs, p
	p.reply, p.format, p.start, p.bytes = req.Reply(), f, requestStart(req), len(req.Data())
	if err := s.log.Append(&p.Append); err != nil {
		s.pending.Add(-1)
		p.release()
		s.reject(req, err)
	}
}

// admit counts one more pending append unless MaxPendingAppends are
// pending. The count never passes the limit, not even for a moment, since
// Stats reports it.
func (s *Service) admit() bool {
	limit := int64(s.cfg.MaxPendingAppends)
	for {
		n := s.pending.Load()
		if n >= limit {
			return false
		}
		if s.pending.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// decodeAppend decodes and checks an append request's records, encoded
// in format f.
func (s *Service) decodeAppend(f messages.Format, data []byte) ([]*messages.Record, error) {
	ar, err := f.UnmarshalAppendRequest(data, s.cfg.MaxBatchRecords)
	if errors.Is(err, messages.ErrTooManyRecords) {
		return nil, fmt.Errorf("%w: append request: %v", ErrTooLarge, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: decode append request: %v", ErrBadRequest, err)
	}
	if len(ar.Records) == 0 {
		return nil, fmt.Errorf("%w: append request has no records", ErrBadRequest)
	}
	if len(ar.Records) > s.cfg.MaxBatchRecords {
		return nil, fmt.Errorf("%w: append request has %d records, more than %d", ErrTooLarge, len(ar.Records), s.cfg.MaxBatchRecords)
	}
	rs := make([]*messages.Record, len(ar.Records))
	for i := range ar.Records {
		r := &ar.Records[i]
		if len(r.Value) == 0 && len(r.Key) == 0 {
			return nil, fmt.Errorf("%w: record %d has neither value nor key", ErrBadRequest, i)
		}
		if n := recordSize(r); n > s.maxRecordBytes {
			return nil, fmt.Errorf("%w: record %d takes up to %d bytes, more than %d", ErrTooLarge, i, n, s.maxRecordBytes)
		}
		// The log assigns both; a client cannot choose them.
		r.Offset, r.Timestamp = 0, 0
		rs[i] = r
	}
	return rs, nil
}

// onCommit is the service's CommitFunc. For a committed range it publishes
// one Committed notification, then acknowledges the appends in order; the
// log has already made the records visible to readers, so that a client
// that got its reply or the notification can read them at once. For
// appends the log gave up it answers each with the error.
func (s *Service) onCommit(c Commit) {
	s.metrics.synced(c)
	if c.Err != nil {
		for _, a := range c.Appends {
			s.replyError(pendingOf(a).reply, c.Err)
		}
		s.metrics.failed(c.Appends, codeOf(c.Err))
	} else {
		// Commits come one at a time, so one buffer serves them all.
		body := appendOffsets(s.commitBody[:0], "first_offset", c.First, "last_offset", c.Last)
		if err := s.nc.Publish(s.subjects.Committed, body); err != nil {
			s.logger.Warn("publish commit notification", "first_offset", c.First, "last_offset", c.Last, "error", err)
		}
		for _, a := range c.Appends {
			body = appendOffsets(body[:0], "first_offset", a.First, "last_offset", a.Last)
			s.replyAppend(pendingOf(a), body)
		}
		s.commitBody = body
		s.metrics.committed(c.Appends)
	}
	s.pending.Add(-int64(len(c.Appends)))
	for _, a := range c.Appends {
		pendingOf(a).release()
	}
}

// replyAppend acknowledges p with body, the msgpack AppendReply, in the
// format of its request.
func (s *Service) replyAppend(p *pendingAppend, body []byte) {
	if p.format == messages.FormatMsgpack {
		s.replyData(p.reply, body, nil)
		return
	}
	out, err := p.format.Reply(body)
	if err != nil {
		// Never for these two integers. The records are committed:
		// acknowledge them, if not in the format asked.
		s.logger.Error("encode append reply", "format", p.format.String(), "error", err)
		s.replyData(p.reply, body, nil)
		return
	}
	s.replyData(p.reply, out, replyHeader(p.format, nil))
}

// pendingAppend is an append request handed to the log: the Append the
// log sees, and what the service needs to answer and count the request.
type pendingAppend struct {
	Append
	reply  string
	format messages.Format // of the request, and so of the reply
	start  time.Time       // when the request came, for the metrics
	bytes  int             // of the request, for the metrics
}

// pendingOf returns the request of an Append the log delivered.
func pendingOf(a *Append) *pendingAppend { return a.Token.(*pendingAppend) }

// pendingAppends recycles the pendingAppends of answered requests.
var pendingAppends = sync.Pool{New: func() any { return new(pendingAppend) }}

func (p *pendingAppend) release() {
	*p = pendingAppend{}
	pendingAppends.Put(p)
}
