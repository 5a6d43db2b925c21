package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment/snapshot"
)

// The flow control of a snapshot stream. At most snapshotWindow chunks are
// sent and not yet acknowledged, so that a slow requester holds up the
// stream instead of making anything buffer it: the service holds one
// chunk, and NATS at most the window. A chunk is the connection's maximum
// payload less snapshotHeadroom for the headers, and at most
// snapshotMaxChunk, which is plenty to amortise a round trip.
const (
	snapshotWindow   = 4
	snapshotHeadroom = 512
	snapshotMaxChunk = 1 << 20
)

// snapshotStream is the io.Writer a snapshot.Writer writes the stream to:
// it cuts the bytes into chunks and publishes each to the requester's
// reply subject, with the headers of messages.SnapshotSeqHeader and the
// rest and, as the chunk's reply subject, the subject the requester
// acknowledges on. It waits for acknowledgements whenever snapshotWindow
// chunks are unacknowledged. The last chunk (finish) carries
// messages.SnapshotEndHeader; a failure, an error chunk (sendError).
type snapshotStream struct {
	s       *Service
	reply   string
	acks    *nats.Subscription
	h       snapshot.Header
	timeout time.Duration
	ctx     context.Context

	chunk []byte // the chunk being filled; its capacity is the chunk size
	seq   uint64 // the sequence number of the next chunk to send
	acked uint64 // the chunks below it are acknowledged
	sent  int64  // bytes sent
}

// newSnapshotStream subscribes to a new acknowledgement subject for a
// stream of h to reply. The caller must close it.
func (s *Service) newSnapshotStream(reply string, h snapshot.Header) (*snapshotStream, error) {
	acks, err := s.nc.SubscribeSync(s.nc.NewInbox())
	if err != nil {
		return nil, fmt.Errorf("snapshot: subscribe for acknowledgements: %w", err)
	}
	size := min(int(s.nc.MaxPayload())-snapshotHeadroom, snapshotMaxChunk)
	if size < snapshotHeadroom {
		// A server with a tiny payload limit: still make progress.
		size = max(int(s.nc.MaxPayload())/2, 1)
	}
	return &snapshotStream{
		s: s, reply: reply, acks: acks, h: h,
		timeout: s.cfg.SnapshotAckTimeout,
		ctx:     s.snapshots.ctx,
		chunk:   make([]byte, 0, size),
	}, nil
}

// close ends the acknowledgement subscription.
func (st *snapshotStream) close() {
	if err := st.acks.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		st.s.logger.Debug("snapshot: unsubscribe", "error", err)
	}
}

// Write adds p to the stream, sending each chunk once it is full and more
// bytes follow it, so that the last chunk is never empty.
func (st *snapshotStream) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(st.chunk) == cap(st.chunk) {
			if err := st.send(false); err != nil {
				return n - len(p), err
			}
		}
		k := min(len(p), cap(st.chunk)-len(st.chunk))
		st.chunk = append(st.chunk, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

// finish sends the last chunk, marked as the end.
func (st *snapshotStream) finish() error { return st.send(true) }

// send publishes the chunk once the window has room for it.
func (st *snapshotStream) send(last bool) error {
	for st.seq-st.acked >= snapshotWindow {
		if err := st.awaitAck(); err != nil {
			return err
		}
	}
	msg := nats.NewMsg(st.reply)
	msg.Reply = st.acks.Subject
	msg.Data = st.chunk
	msg.Header.Set(messages.SnapshotSeqHeader, strconv.FormatUint(st.seq, 10))
	if st.seq == 0 {
		msg.Header.Set(messages.SnapshotFirstHeader, strconv.FormatUint(st.h.First, 10))
		msg.Header.Set(messages.SnapshotNextHeader, strconv.FormatUint(st.h.Next, 10))
	}
	if last {
		msg.Header.Set(messages.SnapshotEndHeader, strconv.FormatInt(st.sent+int64(len(st.chunk)), 10))
	}
	// PublishMsg copies the chunk into the connection's buffer: the
	// chunk's memory is free for the next one when it returns.
	if err := st.s.nc.PublishMsg(msg); err != nil {
		return fmt.Errorf("snapshot: send chunk %d: %w", st.seq, err)
	}
	st.seq++
	st.sent += int64(len(st.chunk))
	st.s.metrics.snapshotBytes.Add(uint64(len(st.chunk)))
	st.chunk = st.chunk[:0]
	return nil
}

// awaitAck waits for an acknowledgement, up to the timeout, and moves the
// window on by what it acknowledges.
func (st *snapshotStream) awaitAck() error {
	ctx, cancel := context.WithTimeout(st.ctx, st.timeout)
	defer cancel()
	msg, err := st.acks.NextMsgWithContext(ctx)
	switch {
	case st.ctx.Err() != nil:
		return errStopping
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: no acknowledgement of chunk %d within %v", errAbandoned, st.acked, st.timeout)
	case err != nil:
		return fmt.Errorf("snapshot: await acknowledgement: %w", err)
	case len(msg.Data) == 0:
		return fmt.Errorf("%w by the requester after %d chunks", errAbandoned, st.acked)
	}
	n, err := strconv.ParseUint(string(msg.Data), 10, 64)
	if err != nil || n >= st.seq {
		return fmt.Errorf("%w: acknowledgement %q names no chunk sent (0 to %d)", ErrBadRequest, msg.Data, st.seq-1)
	}
	st.acked = max(st.acked, n+1)
	return nil
}

// sendError ends the stream with an error chunk: no data, the next
// sequence number, and the micro error headers of err.
func (st *snapshotStream) sendError(err error) {
	code := codeOf(err)
	msg := nats.NewMsg(st.reply)
	msg.Header.Set(messages.SnapshotSeqHeader, strconv.FormatUint(st.seq, 10))
	msg.Header.Set(micro.ErrorCodeHeader, strconv.Itoa(code))
	msg.Header.Set(micro.ErrorHeader, describe(code, err))
	if perr := st.s.nc.PublishMsg(msg); perr != nil {
		st.s.logger.Debug("snapshot: send error chunk", "error", perr)
	}
}
