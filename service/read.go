package service

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// Read defaults, as the protocol documents them.
const (
	defaultReadRecords = 1
	defaultReadBytes   = 1 << 20
)

// parkedRead is a long-poll read waiting for records to commit.
type parkedRead struct {
	reply    string
	req      messages.ReadRequest
	deadline time.Time
}

// handleRead answers a read at once, or parks it when it waits at the
// committed offset, so that the handler goroutine is free for the next
// read.
func (s *Service) handleRead(req micro.Request) {
	if !s.enter() {
		s.reject(req, messages.CodeUnavailable, "service is shutting down")
		return
	}
	defer s.inflight.Done()

	var rr messages.ReadRequest
	if err := messages.Unmarshal(req.Data(), &rr); err != nil {
		s.reject(req, messages.CodeBadRequest, "decode read request: %v", err)
		return
	}
	if rr.WaitMS > 0 && rr.Offset == s.committed.Load() {
		wait := s.cfg.MaxWait
		if rr.WaitMS < uint64(wait/time.Millisecond) {
			wait = time.Duration(rr.WaitMS) * time.Millisecond
		}
		switch s.park(&parkedRead{reply: req.Reply(), req: rr, deadline: time.Now().Add(wait)}) {
		case parkFull:
			s.reject(req, messages.CodeUnavailable, "%d reads are already waiting; retry later", s.cfg.MaxParkedReads)
			return
		case parked:
			return
		}
		// Records committed meanwhile: answer now.
	}
	buf := getBuf()
	defer putBuf(buf)
	body, code, desc := s.read(rr, buf)
	if code != 0 {
		s.reject(req, code, "%s", desc)
		return
	}
	if err := req.Respond(body); err != nil {
		s.logger.Debug("reply failed", "subject", req.Subject(), "error", err)
	}
}

type parkResult int

const (
	parked parkResult = iota
	parkFull
	parkCommitted
)

func (s *Service) park(p *parkedRead) parkResult {
	s.parkMu.Lock()
	// Checked under parkMu: the poller scans under it after committed
	// advances, so a read parked here is either seen by that scan or
	// sees the new offset now.
	if s.committed.Load() != p.req.Offset {
		s.parkMu.Unlock()
		return parkCommitted
	}
	if len(s.parked) >= s.cfg.MaxParkedReads {
		s.parkMu.Unlock()
		return parkFull
	}
	s.parked = append(s.parked, p)
	s.parkMu.Unlock()
	s.signalPoller()
	return parked
}

func (s *Service) signalPoller() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// poll is the poller: it answers parked reads when records commit or
// their wait expires, and all of them when the service stops.
func (s *Service) poll() {
	defer close(s.pollerDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var ready []*parkedRead
	for {
		stopping := false
		select {
		case <-s.wake:
		case <-timer.C:
		case <-s.stopPoll:
			stopping = true
		}
		now := time.Now()
		var earliest time.Time
		s.parkMu.Lock()
		next := s.committed.Load()
		keep := s.parked[:0]
		for _, p := range s.parked {
			if stopping || p.req.Offset != next || !now.Before(p.deadline) {
				ready = append(ready, p)
				continue
			}
			keep = append(keep, p)
			if earliest.IsZero() || p.deadline.Before(earliest) {
				earliest = p.deadline
			}
		}
		clear(s.parked[len(keep):])
		s.parked = keep
		s.parkMu.Unlock()

		for _, p := range ready {
			s.answerParked(p)
		}
		clear(ready)
		ready = ready[:0]
		if stopping {
			return
		}
		if !earliest.IsZero() {
			timer.Reset(earliest.Sub(now))
		}
	}
}

func (s *Service) answerParked(p *parkedRead) {
	buf := getBuf()
	defer putBuf(buf)
	body, code, desc := s.read(p.req, buf)
	s.metrics.answered(epRead, code, time.Time{})
	if code != 0 {
		s.replyError(p.reply, code, "%s", desc)
		return
	}
	s.replyData(p.reply, body)
}

// read builds the reply to rr in buf, or returns an error code and its
// detail.
func (s *Service) read(rr messages.ReadRequest, buf *readBuf) (body []byte, code int, desc string) {
	next := s.committed.Load()
	if rr.Offset > next {
		return nil, messages.CodeOffsetOutOfRange, s.outOfRange(rr.Offset, next)
	}
	if rr.Offset == next {
		return messages.AppendReadReply(buf.reply[:0], 0, nil, next), 0, ""
	}
	maxRecords := rr.MaxRecords
	if maxRecords == 0 {
		maxRecords = defaultReadRecords
	}
	maxRecords = min(maxRecords, next-rr.Offset, math.MaxInt32)
	// The reply must fit in one NATS message and in MaxReadBytes.
	limit := min(int(s.nc.MaxPayload())-replyOverhead, s.cfg.MaxReadBytes)
	maxBytes := uint64(defaultReadBytes)
	if rr.MaxBytes > 0 {
		maxBytes = rr.MaxBytes
	}
	maxBytes = min(maxBytes, uint64(limit))

	recs, n, err := s.log.ReadRaw(rr.Offset, int(maxRecords), int(maxBytes), buf.records[:0])
	if errors.Is(err, segment.ErrRecordTooLarge) && maxBytes < uint64(limit) {
		// max_bytes yields to the first record, so that a reader with a
		// small limit still makes progress.
		recs, n, err = s.log.ReadRaw(rr.Offset, 1, limit, buf.records[:0])
	}
	switch {
	case errors.Is(err, segment.ErrRecordTooLarge):
		return nil, messages.CodeTooLarge, fmt.Sprintf("record %d does not fit in a reply of %d bytes", rr.Offset, limit)
	case errors.Is(err, segment.ErrOffsetOutOfRange):
		return nil, messages.CodeOffsetOutOfRange, s.outOfRange(rr.Offset, next)
	case err != nil:
		return nil, messages.CodeInternal, fmt.Sprintf("read %d: %v", rr.Offset, err)
	}
	buf.records = recs
	buf.reply = messages.AppendReadReply(buf.reply[:0], n, recs, rr.Offset+uint64(n))
	return buf.reply, 0, ""
}

func (s *Service) outOfRange(off, next uint64) string {
	lowest, err := s.log.LowestOffset()
	if err != nil {
		return fmt.Sprintf("offset %d is beyond the next offset %d", off, next)
	}
	return fmt.Sprintf("offset %d is outside the readable range %d to %d", off, lowest, next)
}

// readBuf holds the two buffers of a read: the records as the log returns
// them and the reply around them.
type readBuf struct {
	records, reply []byte
}

// maxPooledBuf keeps a server with a huge max_payload from pinning huge
// buffers in the pool.
const maxPooledBuf = 4 << 20

var readBufs = sync.Pool{New: func() any { return new(readBuf) }}

func getBuf() *readBuf { return readBufs.Get().(*readBuf) }

func putBuf(b *readBuf) {
	if cap(b.records) > maxPooledBuf || cap(b.reply) > maxPooledBuf {
		return
	}
	readBufs.Put(b)
}
