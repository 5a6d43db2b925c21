package service

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// reject answers a request from its handler with the code of err and a
// description that starts with the code's text.
func (s *Service) reject(req micro.Request, err error) {
	code := codeOf(err)
	var opts []micro.RespondOpt
	if h := errorHeaders(err); h != nil {
		opts = append(opts, micro.WithHeaders(micro.Headers(h)))
	}
	if rerr := req.Error(strconv.Itoa(code), describe(code, err), nil, opts...); rerr != nil {
		s.logger.Debug("reply failed", "subject", req.Subject(), "error", rerr)
	}
}

// replyError answers a reply subject with an error after the request's
// handler has returned. The micro.Request itself must not be touched then:
// micro reads its state once the handler returns, without a lock.
func (s *Service) replyError(reply string, err error) {
	if reply == "" {
		return
	}
	code := codeOf(err)
	h := errorHeaders(err)
	if h == nil {
		h = nats.Header{}
	}
	h[micro.ErrorHeader] = []string{describe(code, err)}
	h[micro.ErrorCodeHeader] = []string{strconv.Itoa(code)}
	msg := &nats.Msg{Subject: reply, Header: h}
	if perr := s.nc.PublishMsg(msg); perr != nil {
		s.logger.Debug("reply failed", "subject", reply, "error", perr)
	}
}

// errorHeaders returns the headers that an error reply carries beside
// the code and the description, nil when there are none: the log's next
// offset for a conflict, whether the handler or the commit found it (a
// replicated log decides conditions as the entry applies), and the
// leader's id for a write that reached a node that is not the leader.
func errorHeaders(err error) nats.Header {
	var conflict *ConflictError
	var notLeader *NotLeaderError
	switch {
	case errors.As(err, &conflict):
		return nats.Header{messages.NextOffsetHeader: []string{strconv.FormatUint(conflict.NextOffset, 10)}}
	case errors.As(err, &notLeader):
		return nats.Header{messages.LeaderHeader: []string{notLeader.LeaderID}}
	}
	return nil
}

// replyData answers a reply subject with data and, unless nil, the
// headers h, after the request's handler has returned; see replyError.
func (s *Service) replyData(reply string, data []byte, h nats.Header) {
	if reply == "" {
		return
	}
	var err error
	if h == nil {
		// The common case, on the commit path: no Msg to allocate.
		err = s.nc.Publish(reply, data)
	} else {
		err = s.nc.PublishMsg(&nats.Msg{Subject: reply, Data: data, Header: h})
	}
	if err != nil {
		s.logger.Debug("reply failed", "subject", reply, "error", err)
	}
}

// requestFormat tells how req's body is encoded, and so how to answer it.
func requestFormat(req micro.Request) messages.Format {
	return messages.RequestFormat(req.Headers().Get(contentTypeHeader), req.Data())
}

// contentTypeHeader marks a JSON request, and is set on every JSON reply.
const contentTypeHeader = "Content-Type"

// replyHeader returns the headers of a successful reply in format f: the
// content type of a JSON reply, and for a read whose batch damage ended
// the damaged offset. It is nil when there are none, the common case.
func replyHeader(f messages.Format, damage *segment.DamageError) nats.Header {
	if f != messages.FormatJSON && damage == nil {
		return nil
	}
	h := nats.Header{}
	if f == messages.FormatJSON {
		h.Set(contentTypeHeader, messages.ContentTypeJSON)
	}
	if damage != nil {
		h.Set(DamagedOffsetHeader, strconv.FormatUint(damage.Offset, 10))
	}
	return h
}

// describe builds the description of err answered with code: the code's
// text, then the detail. Errors that wrap a code's sentinel start with its
// text already. Header values cannot span lines, and the detail may quote
// anything a client sent.
func describe(code int, err error) string {
	d := err.Error()
	if text := messages.CodeText(code); !strings.HasPrefix(d, text) {
		d = text + ": " + d
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, d)
}

// appendUint appends n in msgpack's shortest unsigned form.
func appendUint(dst []byte, n uint64) []byte {
	switch {
	case n < 1<<7:
		return append(dst, byte(n))
	case n < 1<<8:
		return append(dst, 0xcc, byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(n))
	case n < 1<<32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), n)
}

// appendOffsets appends a map of two unsigned integers, the shape of
// AppendReply and Committed, without reflection on the committer's path.
func appendOffsets(dst []byte, k1 string, v1 uint64, k2 string, v2 uint64) []byte {
	dst = append(dst, 0x82)
	dst = appendStr(dst, k1)
	dst = appendUint(dst, v1)
	dst = appendStr(dst, k2)
	return appendUint(dst, v2)
}

// appendStr appends a fixstr; keys here are shorter than 32 bytes.
func appendStr(dst []byte, s string) []byte {
	return append(append(dst, 0xa0|byte(len(s))), s...)
}
