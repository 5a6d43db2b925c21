package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
)

// SnapshotSummary describes a snapshot stream: its range of offsets
// [First, Next), and what has arrived of it so far.
type SnapshotSummary struct {
	// First and Next bound the offsets of the records the snapshot holds.
	First, Next uint64
	// Bytes is the length of the stream written so far, and Chunks the
	// chunks it came in.
	Bytes  int64
	Chunks int
}

// Records is the number of records the snapshot holds.
func (s SnapshotSummary) Records() uint64 { return s.Next - s.First }

// SnapshotOption configures one Snapshot.
type SnapshotOption func(*snapshotOptions)

type snapshotOptions struct {
	progress func(SnapshotSummary)
}

// OnSnapshotProgress has Snapshot call fn after each chunk it has written,
// on Snapshot's goroutine, so that a program can show how far it is.
func OnSnapshotProgress(fn func(SnapshotSummary)) SnapshotOption {
	return func(o *snapshotOptions) { o.progress = fn }
}

// Snapshot writes to w a snapshot of the log's records from offset from
// (or from the lowest, when from is below it) up to the committed offset
// at the time of the request: a stream in the format of package
// segment/snapshot, which evlog restore reads. The service fixes the range
// when the request arrives, and appends go on meanwhile.
//
// Snapshot acknowledges each chunk once it is written, so that w sets the
// pace. It checks that the chunks come in sequence and that the stream
// ends with the end marker, at the length the service states, but not the
// stream's own checksums: verify what w received with segment/snapshot's
// Reader before relying on it. Each chunk must arrive within the client's
// timeout (WithTimeout); ctx bounds the whole snapshot. On error, what w
// received is not a snapshot, and the service is told to stop.
func (c *Client) Snapshot(ctx context.Context, w io.Writer, from uint64, opts ...SnapshotOption) (SnapshotSummary, error) {
	var o snapshotOptions
	for _, opt := range opts {
		opt(&o)
	}
	body, err := messages.Marshal(messages.SnapshotRequest{From: from})
	if err != nil {
		return SnapshotSummary{}, err
	}
	subject := c.subjects.Snapshot
	sub, err := c.nc.SubscribeSync(c.nc.NewInbox())
	if err != nil {
		return SnapshotSummary{}, fmt.Errorf("snapshot: subscribe: %w", err)
	}
	defer sub.Unsubscribe()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer c.inflight.add(subject, cancel)()
	if err := c.nc.PublishRequest(subject, sub.Subject, body); err != nil {
		return SnapshotSummary{}, fmt.Errorf("request %s: %w", subject, err)
	}
	r := snapshotReceiver{c: c, sub: sub, w: w, progress: o.progress}
	err = r.run(ctx)
	if err != nil {
		r.giveUp()
		if cause := context.Cause(ctx); errors.Is(cause, nats.ErrPermissionViolation) {
			err = fmt.Errorf("request %s: %w", subject, cause)
		}
	}
	return r.sum, err
}

// snapshotReceiver takes the chunks of one snapshot.
type snapshotReceiver struct {
	c        *Client
	sub      *nats.Subscription
	w        io.Writer
	progress func(SnapshotSummary)
	sum      SnapshotSummary
	ack      string // the subject of the last chunk's acknowledgement
}

// run receives, writes and acknowledges chunks until the last one.
func (r *snapshotReceiver) run(ctx context.Context) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, r.c.timeout)
		msg, err := r.sub.NextMsgWithContext(cctx)
		cancel()
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return fmt.Errorf("%w: no service answers %s: %w", ErrUnavailable, r.c.subjects.Snapshot, err)
		case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("snapshot: no chunk %d within %v: %w", r.sum.Chunks, r.c.timeout, nats.ErrTimeout)
		case err != nil:
			return fmt.Errorf("snapshot: chunk %d: %w", r.sum.Chunks, err)
		}
		if err := replyError(msg); err != nil {
			r.ack = "" // the service has ended the stream
			return err
		}
		end, err := r.take(msg)
		if err != nil {
			return err
		}
		if r.progress != nil {
			r.progress(r.sum)
		}
		if end {
			return nil
		}
	}
}

// take checks chunk msg, writes it and acknowledges it, and says whether
// it was the last.
func (r *snapshotReceiver) take(msg *nats.Msg) (bool, error) {
	seq := msg.Header.Get(messages.SnapshotSeqHeader)
	if want := strconv.Itoa(r.sum.Chunks); seq != want {
		return false, fmt.Errorf("snapshot: got chunk %q where chunk %s was due: a chunk was lost", seq, want)
	}
	if msg.Reply == "" {
		return false, fmt.Errorf("snapshot: chunk %s has no acknowledgement subject", seq)
	}
	r.ack = msg.Reply
	if r.sum.Chunks == 0 {
		first, err1 := strconv.ParseUint(msg.Header.Get(messages.SnapshotFirstHeader), 10, 64)
		next, err2 := strconv.ParseUint(msg.Header.Get(messages.SnapshotNextHeader), 10, 64)
		if err := errors.Join(err1, err2); err != nil || next < first {
			return false, fmt.Errorf("snapshot: chunk 0 states no valid range [%q, %q)", msg.Header.Get(messages.SnapshotFirstHeader), msg.Header.Get(messages.SnapshotNextHeader))
		}
		r.sum.First, r.sum.Next = first, next
	}
	if _, err := r.w.Write(msg.Data); err != nil {
		return false, fmt.Errorf("snapshot: write chunk %s: %w", seq, err)
	}
	r.sum.Chunks++
	r.sum.Bytes += int64(len(msg.Data))
	end := msg.Header.Get(messages.SnapshotEndHeader)
	if end != "" {
		if n, err := strconv.ParseInt(end, 10, 64); err != nil || n != r.sum.Bytes {
			return false, fmt.Errorf("snapshot: the service sent %d bytes but states %q", r.sum.Bytes, end)
		}
		r.ack = ""
	}
	if err := r.c.nc.Publish(msg.Reply, []byte(seq)); err != nil {
		return false, fmt.Errorf("snapshot: acknowledge chunk %s: %w", seq, err)
	}
	return end != "", nil
}

// giveUp tells the service, with an empty acknowledgement, to stop
// sending a stream the receiver no longer takes.
func (r *snapshotReceiver) giveUp() {
	if r.ack != "" {
		_ = r.c.nc.Publish(r.ack, nil) // at worst the service times out
	}
}
