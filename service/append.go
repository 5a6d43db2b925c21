package service

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/dedup"
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
	a, err := s.decodeAppend(f, req)
	if err != nil {
		s.reject(req, err)
		return
	}
	if !s.admit() {
		s.reject(req, fmt.Errorf("%w: %d appends are waiting for the disk; retry later", ErrUnavailable, s.cfg.MaxPendingAppends))
		return
	}
	p := pendingAppends.Get().(*pendingAppend)
	p.Append = a
	p.Token = p
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

// decodeAppend decodes and checks an append request, encoded in format
// f, into what the log takes.
func (s *Service) decodeAppend(f messages.Format, req micro.Request) (Append, error) {
	ar, err := f.UnmarshalAppendRequest(req.Data(), s.cfg.MaxBatchRecords)
	if err == nil {
		ar.ID, err = requestID(ar.ID, req.Headers().Get(messages.IDHeader))
	}
	if errors.Is(err, messages.ErrTooManyRecords) {
		return Append{}, fmt.Errorf("%w: append request: %v", ErrTooLarge, err)
	}
	if err != nil {
		return Append{}, fmt.Errorf("%w: decode append request: %v", ErrBadRequest, err)
	}
	if len(ar.Records) == 0 {
		return Append{}, fmt.Errorf("%w: append request has no records", ErrBadRequest)
	}
	if len(ar.Records) > s.cfg.MaxBatchRecords {
		return Append{}, fmt.Errorf("%w: append request has %d records, more than %d", ErrTooLarge, len(ar.Records), s.cfg.MaxBatchRecords)
	}
	rs := make([]*messages.Record, len(ar.Records))
	for i := range ar.Records {
		r := &ar.Records[i]
		if err := s.checkRecord(i, r, ar.ID); err != nil {
			return Append{}, err
		}
		// The log assigns both; a client cannot choose them.
		r.Offset, r.Timestamp = 0, 0
		rs[i] = r
	}
	return Append{Records: rs, ID: ar.ID, ExpectedOffset: ar.ExpectedOffset}, nil
}

// checkRecord checks record i of an append request with the given id.
// The headers that store an id are the log's to write, and the first
// record of a request with an id must have room for them.
func (s *Service) checkRecord(i int, r *messages.Record, id string) error {
	if len(r.Value) == 0 && len(r.Key) == 0 {
		return fmt.Errorf("%w: record %d has neither value nor key", ErrBadRequest, i)
	}
	for _, h := range messages.ReservedHeaders {
		if _, ok := r.Headers[h]; ok {
			return fmt.Errorf("%w: record %d sets header %s, which is reserved; give the append's id as its \"id\" field", ErrBadRequest, i, h)
		}
	}
	n := messages.MaxEncodedSize(r)
	if i == 0 && id != "" {
		n += dedup.StampBytes(id, len(r.Headers) > 0)
	}
	if n > s.maxRecordBytes {
		return fmt.Errorf("%w: record %d takes up to %d bytes, more than %d", ErrTooLarge, i, n, s.maxRecordBytes)
	}
	return nil
}

// requestID returns the id of an append request from its body's "id" and
// its Nats-Msg-Id header, which mean the same; the two must agree when
// both are given.
func requestID(body, header string) (string, error) {
	if header == "" {
		return body, nil
	}
	if err := messages.CheckID(header); err != nil {
		return "", fmt.Errorf("header %s: %w", messages.IDHeader, err)
	}
	if body != "" && body != header {
		return "", fmt.Errorf("id %q and header %s %q differ", body, messages.IDHeader, header)
	}
	return header, nil
}

// onCommit is the service's CommitFunc. For a committed range it publishes
// one Committed notification, then acknowledges the appends in order; the
// log has already made the records visible to readers, so that a client
// that got its reply or the notification can read them at once. For
// appends the log gave up it answers each with the error.
func (s *Service) onCommit(c Commit) {
	s.metrics.synced(c)
	// The metrics count each reply before it goes out, so that a client
	// that has its answer finds it counted.
	if c.Err != nil {
		s.metrics.failed(c.Appends, codeOf(c.Err))
		for _, a := range c.Appends {
			s.replyError(pendingOf(a).reply, c.Err)
		}
	} else {
		s.metrics.committed(c.Appends)
		// Commits come one at a time, so one buffer serves them all.
		body := s.commitBody[:0]
		if !c.Empty {
			s.announcer.commit(c.First, c.Last)
		}
		for _, a := range c.Appends {
			body = appendAppendReply(body[:0], a)
			s.replyAppend(pendingOf(a), body)
		}
		s.commitBody = body
	}
	s.pending.Add(-int64(len(c.Appends)))
	for _, a := range c.Appends {
		pendingOf(a).release()
	}
	if c.Err == nil && !c.Empty && s.poller != nil {
		// Followers parked at the old end hear of the records now,
		// rather than once the poller's goroutine has been scheduled.
		s.poller.answerCommitted()
	}
}

// appendAppendReply appends the msgpack AppendReply of a, in the
// layout messages.AppendReply encodes.
func appendAppendReply(dst []byte, a *Append) []byte {
	if !a.Duplicate {
		return appendOffsets(dst, "first_offset", a.First, "last_offset", a.Last)
	}
	dst = append(dst, 0x83)
	dst = appendStr(dst, "first_offset")
	dst = appendUint(dst, a.First)
	dst = appendStr(dst, "last_offset")
	dst = appendUint(dst, a.Last)
	dst = appendStr(dst, "duplicate")
	return append(dst, 0xc3) // true
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
