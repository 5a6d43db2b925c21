package service

import (
	"fmt"

	"github.com/nats-io/nats.go"
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

	f := requestFormat(req)
	var tr messages.TruncateRequest
	if err := f.Unmarshal(req.Data(), &tr); err != nil {
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
	s.respondIn(req, f, "truncate reply", &messages.TruncateReply{LowestOffset: lowest})
}

// handleInfo describes the log as readers see it. The request body is
// ignored but for its format: an empty body gets msgpack, "{}" JSON.
func (s *Service) handleInfo(req micro.Request) {
	if !s.enter() {
		s.reject(req, errStopping)
		return
	}
	defer s.inflight.Done()

	next := s.log.CommittedOffset()
	st := s.log.Stats()
	s.respondIn(req, requestFormat(req), "info reply", &messages.InfoReply{
		LowestOffset: min(st.LowestOffset, next),
		NextOffset:   next,
		Segments:     uint64(st.Segments),
		Bytes:        st.Bytes,
	})
}

// respondIn answers a request from its handler with reply, what it names,
// encoded in format f.
func (s *Service) respondIn(req micro.Request, f messages.Format, what string, reply any) {
	body, err := messages.Marshal(reply)
	if err == nil {
		body, err = f.Reply(body)
	}
	if err != nil {
		s.reject(req, fmt.Errorf("encode %s: %w", what, err))
		return
	}
	s.respond(req, body, replyHeader(f, nil))
}

// respond answers a request from its handler with body and, unless nil,
// the headers h.
func (s *Service) respond(req micro.Request, body []byte, h nats.Header) {
	var opts []micro.RespondOpt
	if h != nil {
		opts = append(opts, micro.WithHeaders(micro.Headers(h)))
	}
	if err := req.Respond(body, opts...); err != nil {
		s.logger.Debug("reply failed", "subject", req.Subject(), "error", err)
	}
}
