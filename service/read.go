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

// handleRead answers a read at once, or parks it when it waits at the
// committed offset, so that the handler goroutine is free for the next
// read.
func (s *Service) handleRead(req micro.Request) {
	if !s.enter() {
		s.reject(req, errStopping)
		return
	}
	defer s.inflight.Done()

	f := requestFormat(req)
	var rr messages.ReadRequest
	if err := f.Unmarshal(req.Data(), &rr); err != nil {
		s.reject(req, fmt.Errorf("%w: decode read request: %v", ErrBadRequest, err))
		return
	}
	if err := s.resolveTime(&rr); err != nil {
		s.reject(req, err)
		return
	}
	if rr.WaitMS > 0 && rr.Offset == s.log.CommittedOffset() {
		wait := s.cfg.MaxWait
		if rr.WaitMS < uint64(wait/time.Millisecond) {
			wait = time.Duration(rr.WaitMS) * time.Millisecond
		}
		switch s.poller.park(&parkedRead{reply: req.Reply(), req: rr, format: f, deadline: time.Now().Add(wait)}) {
		case parkFull:
			s.reject(req, fmt.Errorf("%w: %d reads are already waiting; retry later", ErrUnavailable, s.cfg.MaxParkedReads))
			return
		case parked:
			return
		}
		// Records committed meanwhile: answer now.
	}
	buf := getBuf()
	defer putBuf(buf)
	body, damage, err := s.read(rr, f, buf)
	if err != nil {
		s.reject(req, err)
		return
	}
	s.respond(req, body, replyHeader(f, damage))
}

// resolveTime turns a read by time into a read at the offset of the first
// record at or after its timestamp, before anything else looks at the
// offset: a timestamp after every record's reads, and waits, at the end.
func (s *Service) resolveTime(rr *messages.ReadRequest) error {
	if rr.Timestamp == nil {
		return nil
	}
	off, err := s.log.OffsetAtTime(*rr.Timestamp)
	if err != nil {
		return fmt.Errorf("find timestamp %d: %w", *rr.Timestamp, err)
	}
	rr.Offset, rr.Timestamp = off, nil
	return nil
}

// answerParked answers a read the poller found due. A read the poller
// answers because it is closing, with no records committed for it, gets
// 503 rather than an empty reply, so that a follower knows to reconnect
// instead of taking the stop for the end of its wait.
func (s *Service) answerParked(p *parkedRead, stopping bool) {
	if stopping && s.log.CommittedOffset() == p.req.Offset {
		s.metrics.answered(epRead, codeOf(errStopping), time.Time{})
		s.replyError(p.reply, errStopping)
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	body, damage, err := s.read(p.req, p.format, buf)
	if err != nil {
		s.metrics.answered(epRead, codeOf(err), time.Time{})
		s.replyError(p.reply, err)
		return
	}
	s.metrics.answered(epRead, codeOK, time.Time{})
	s.replyData(p.reply, body, replyHeader(p.format, damage))
}

// DamagedOffsetHeader is the header of a read reply whose records end
// early because the record after them is damaged; its value is that
// record's offset, in decimal, which the reply's next_offset also is. A
// read from there gets 500 naming the damage: a reader that can do without
// the record continues from the offset after it.
const DamagedOffsetHeader = "Evlog-Damaged-Offset"

// read builds the reply to rr in format f, in buf for msgpack. It also
// returns the damage that ended the batch early, if any.
func (s *Service) read(rr messages.ReadRequest, f messages.Format, buf *readBuf) ([]byte, *segment.DamageError, error) {
	next := s.log.CommittedOffset()
	if rr.Offset > next {
		return nil, nil, s.outOfRange(rr.Offset, next)
	}
	var b segment.RawBatch
	if rr.Offset < next {
		var err error
		if b, err = s.readBatch(rr, f, next, buf); err != nil {
			return nil, nil, err
		}
		buf.records = b.Records
	}
	buf.reply = messages.AppendReadReply(buf.reply[:0], b.N, b.Records, rr.Offset+uint64(b.N))
	if f == messages.FormatMsgpack {
		return buf.reply, b.Damage, nil
	}
	body, err := f.Reply(buf.reply)
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("encode read reply: %w", err)
	case len(body) > int(s.nc.MaxPayload()):
		// Only a record read alone, under readBatch's fallback, can
		// grow this much: records that need escaping or base64.
		return nil, nil, fmt.Errorf("%w: record %d takes %d bytes in JSON, more than the %d a reply can carry; read it in msgpack", ErrTooLarge, rr.Offset, len(body), s.nc.MaxPayload())
	}
	return body, b.Damage, nil
}

// readBatch reads the records of rr, which starts below next, into
// buf.records, within the limits of a reply in format f.
func (s *Service) readBatch(rr messages.ReadRequest, f messages.Format, next uint64, buf *readBuf) (segment.RawBatch, error) {
	maxRecords := rr.MaxRecords
	if maxRecords == 0 {
		maxRecords = defaultReadRecords
	}
	maxRecords = min(maxRecords, next-rr.Offset, math.MaxInt32)
	// The reply must fit in one NATS message and in MaxReadBytes.
	payload := int(s.nc.MaxPayload())
	limit := min(payload-replyOverhead, s.cfg.MaxReadBytes)
	budget := limit
	if f == messages.FormatJSON {
		// Sized so that even the worst conversion fits in the payload.
		budget = max(min(limit, (payload-16)/messages.JSONGrowth-replyOverhead), 0)
	}
	maxBytes := uint64(defaultReadBytes)
	if rr.MaxBytes > 0 {
		maxBytes = rr.MaxBytes
	}
	maxBytes = min(maxBytes, uint64(budget))

	b, err := s.log.ReadRawBatch(rr.Offset, int(maxRecords), int(maxBytes), buf.records[:0])
	if errors.Is(err, ErrTooLarge) && maxBytes < uint64(limit) {
		// max_bytes, and the JSON budget, yield to the first record, so
		// that a reader with a small limit still makes progress.
		b, err = s.log.ReadRawBatch(rr.Offset, 1, limit, buf.records[:0])
	}
	switch {
	case errors.Is(err, ErrTooLarge):
		return b, fmt.Errorf("%w: record %d does not fit in a reply of %d bytes", ErrTooLarge, rr.Offset, limit)
	case errors.Is(err, ErrOffsetOutOfRange):
		return b, s.outOfRange(rr.Offset, next)
	case err != nil:
		return b, fmt.Errorf("read %d: %w", rr.Offset, err)
	}
	return b, nil
}

// outOfRange is the error of a read at off, outside the readable range
// that ends at next.
func (s *Service) outOfRange(off, next uint64) error {
	if off > next && s.cfg.Leadership != nil {
		return behind(off, next)
	}
	lowest := min(s.log.Stats().LowestOffset, next)
	return fmt.Errorf("%w: offset %d is outside the readable range %d to %d", ErrOffsetOutOfRange, off, lowest, next)
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
