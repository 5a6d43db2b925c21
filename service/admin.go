package service

import (
	"fmt"

	"github.com/nats-io/nats.go/micro"

	"github.com/evlog/evlog/messages"
)

// handleTruncate raises the log's lowest offset to the requested one and
// answers the new lowest offset.
func (s *Service) handleTruncate(req micro.Request) {
	if !s.enter() {
		s.reject(req, errStopping)
		return
	}
	defer s.inflight.Done()

	var tr messages.TruncateRequest
	if err := messages.Unmarshal(req.Data(), &tr); err != nil {
		s.reject(req, fmt.Errorf("%w: decode truncate request: %v", ErrBadRequest, err))
		return
	}
	// Against the committed offset, not the log's: records not yet
	// acknowledged may still fail.
	if next := s.log.CommittedOffset(); tr.Lowest > next {
		s.reject(req, fmt.Errorf("%w: truncate to %d is beyond the next offset %d", ErrOffsetOutOfRange, tr.Lowest, next))
		return
	}
	lowest, err := s.log.TruncateFront(tr.Lowest)
	if err != nil {
		s.reject(req, fmt.Errorf("truncate: %w", err))
		return
	}
	s.logger.Info("truncated", "requested", tr.Lowest, "lowest_offset", lowest)
	body, err := messages.Marshal(&messages.TruncateReply{LowestOffset: lowest})
	if err != nil {
		s.reject(req, fmt.Errorf("encode truncate reply: %w", err))
		return
	}
	s.respond(req, body)
}

// handleInfo describes the log as readers see it. The request body is
// ignored.
func (s *Service) handleInfo(req micro.Request) {
	if !s.enter() {
		s.reject(req, errStopping)
		return
	}
	defer s.inflight.Done()

	next := s.log.CommittedOffset()
	st := s.log.Stats()
	body, err := messages.Marshal(&messages.InfoReply{
		LowestOffset: min(st.LowestOffset, next),
		NextOffset:   next,
		Segments:     uint64(st.Segments),
		Bytes:        st.Bytes,
	})
	if err != nil {
		s.reject(req, fmt.Errorf("encode info reply: %w", err))
		return
	}
	s.respond(req, body)
}

func (s *Service) respond(req micro.Request, body []byte) {
	if err := req.Respond(body); err != nil {
		s.logger.Debug("reply failed", "subject", req.Subject(), "error", err)
	}
}
