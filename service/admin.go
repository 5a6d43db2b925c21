package service

import (
	"errors"

	"github.com/nats-io/nats.go/micro"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// handleTruncate deletes the segments entirely below the requested offset
// and answers the new lowest offset.
func (s *Service) handleTruncate(req micro.Request) {
	if !s.enter() {
		s.reject(req, messages.CodeUnavailable, "service is shutting down")
		return
	}
	defer s.inflight.Done()

	var tr messages.TruncateRequest
	if err := messages.Unmarshal(req.Data(), &tr); err != nil {
		s.reject(req, messages.CodeBadRequest, "decode truncate request: %v", err)
		return
	}
	// Against the committed offset, not the log's: records not yet
	// acknowledged may still fail.
	if next := s.committed.Load(); tr.Lowest > next {
		s.reject(req, messages.CodeOffsetOutOfRange, "truncate to %d is beyond the next offset %d", tr.Lowest, next)
		return
	}
	if err := s.log.TruncateFront(tr.Lowest); err != nil {
		if errors.Is(err, segment.ErrOffsetOutOfRange) {
			s.reject(req, messages.CodeOffsetOutOfRange, "truncate: %v", err)
		} else {
			s.reject(req, messages.CodeInternal, "truncate: %v", err)
		}
		return
	}
	lowest, err := s.log.LowestOffset()
	if err != nil {
		s.reject(req, messages.CodeInternal, "lowest offset: %v", err)
		return
	}
	s.logger.Info("truncated", "requested", tr.Lowest, "lowest_offset", lowest)
	body, err := messages.Marshal(&messages.TruncateReply{LowestOffset: lowest})
	if err != nil {
		s.reject(req, messages.CodeInternal, "encode truncate reply: %v", err)
		return
	}
	s.respond(req, body)
}

// handleInfo describes the log as readers see it. The request body is
// ignored.
func (s *Service) handleInfo(req micro.Request) {
	if !s.enter() {
		s.reject(req, messages.CodeUnavailable, "service is shutting down")
		return
	}
	defer s.inflight.Done()

	next := s.committed.Load()
	st := s.log.Stats()
	body, err := messages.Marshal(&messages.InfoReply{
		LowestOffset: min(st.LowestOffset, next),
		NextOffset:   next,
		Segments:     uint64(st.Segments),
		Bytes:        st.Bytes,
	})
	if err != nil {
		s.reject(req, messages.CodeInternal, "encode info reply: %v", err)
		return
	}
	s.respond(req, body)
}

func (s *Service) respond(req micro.Request, body []byte) {
	if err := req.Respond(body); err != nil {
		s.logger.Debug("reply failed", "subject", req.Subject(), "error", err)
	}
}
