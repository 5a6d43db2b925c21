package service

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
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

	var rr messages.ReadRequest
	if err := messages.Unmarshal(req.Data(), &rr); err != nil {
		s.reject(req, fmt.Errorf("%w: decode read request: %v", ErrBadRequest, err))
		return
	}
	if rr.WaitMS > 0 && rr.Offset == s.log.CommittedOffset() {
		wait := s.cfg.MaxWait
		if rr.WaitMS < uint64(wait/time.Millisecond) {
			wait = time.Duration(rr.WaitMS) * time.Millisecond
		}
		switch s.poller.park(&parkedRead{reply: req.Reply(), req: rr, deadline: time.Now().Add(wait)}) {
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
	body, damage, err := s.read(rr, buf)
	if err != nil {
		s.reject(req, err)
		return
	}
	s.respond(req, body, damageHeader(damage))
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
	body, damage, err := s.read(p.req, buf)
	if err != nil {
		s.metrics.answered(epRead, codeOf(err), time.Time{})
		s.replyError(p.reply, err)
		return
	}
	s.metrics.answered(epRead, codeOK, time.Time{})
	s.replyData(p.reply, body, damageHeader(damage))
}

// DamagedOffsetHeader is the header of a read reply whose records end
// early because the record after them is damaged; its value is that
// record's offset, in decimal, which the reply's next_offset also is. A
// read from there gets 500 naming the damage: a reader that can do without
// the record continues from the offset after it.
const DamagedOffsetHeader = "Evlog-Damaged-Offset"

// damageHeader returns the headers of a read reply whose batch damage
// ended, or nil when damage is nil.
func damageHeader(damage *segment.DamageError) nats.Header {
	if damage == nil {
		return nil
	}
	return nats.Header{DamagedOffsetHeader: []string{strconv.FormatUint(damage.Offset, 10)}}
}

// read builds the reply to rr in buf. It also returns the damage that
// ended the batch early, if any.
func (s *Service) read(rr messages.ReadRequest, buf *readBuf) ([]byte, *segment.DamageError, error) {
	next := s.log.CommittedOffset()
	if rr.Offset > next {
		return nil, nil, s.outOfRange(rr.Offset, next)
	}
	if rr.Offset == next {
		return messages.AppendReadReply(buf.reply[:0], 0, nil, next), nil, nil
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

	b, err := s.log.ReadRawBatch(rr.Offset, int(maxRecords), int(maxBytes), buf.records[:0])
	if errors.Is(err, ErrTooLarge) && maxBytes < uint64(limit) {
		// max_bytes yields to the first record, so that a reader with a
		// small limit still makes progress.
		b, err = s.log.ReadRawBatch(rr.Offset, 1, limit, buf.records[:0])
	}
	switch {
	case errors.Is(err, ErrTooLarge):
		return nil, nil, fmt.Errorf("%w: record %d does not fit in a reply of %d bytes", ErrTooLarge, rr.Offset, limit)
	case errors.Is(err, ErrOffsetOutOfRange):
		return nil, nil, s.outOfRange(rr.Offset, next)
	case err != nil:
		return nil, nil, fmt.Errorf("read %d: %w", rr.Offset, err)
	}
	buf.records = b.Records
	buf.reply = messages.AppendReadReply(buf.reply[:0], b.N, b.Records, rr.Offset+uint64(b.N))
	return buf.reply, b.Damage, nil
}

// outOfRange is the error of a read at off, outside the readable range
// that ends at next.
func (s *Service) outOfRange(off, next uint64) error {
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
