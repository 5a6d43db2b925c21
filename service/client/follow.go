package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
)

// Follow's reads: large batches while catching up, and long polls short
// enough to notice a cancelled context's effect on the service promptly.
// While the service is unavailable Follow retries, waiting from
// followRetryMin, doubling up to followRetryMax.
const (
	followBatch    = 1000
	followWait     = 5 * time.Second
	followRetryMin = 50 * time.Millisecond
	followRetryMax = 2 * time.Second
)

// FollowOption configures one Follow.
type FollowOption func(*followOptions)

type followOptions struct {
	onWait func(error)
	// since, when set, is where Follow starts until its first read has
	// found the offset.
	since *time.Time
}

// OnWait has Follow call fn with the error when it begins to wait for a
// service that does not answer (once an outage, however many retries it
// takes), and with nil when a read succeeds again, so that a program can
// say that it is waiting rather than look stuck. fn runs on Follow's
// goroutine, before the records of the read that succeeded.
func OnWait(fn func(err error)) FollowOption {
	return func(o *followOptions) { o.onWait = fn }
}

// Follow calls handler with every record from offset from on (or from a
// time, with FollowSince), first the history and then new records as they
// commit, each exactly once and in offset order. It reads with long polls that continue from each reply's
// next offset, so no record falls between history and live ones however
// appends race with the hand-over.
//
// A service that is restarting, shutting down or overloaded
// (ErrUnavailable) does not end Follow: it retries with backoff from where
// it was, so a follower rides out a restart of the service without gaps.
//
// It returns ctx.Err() once ctx is done, the handler's error as is, or the
// error of a read that retrying cannot mend (for example
// ErrOffsetOutOfRange once truncation has overtaken it).
func (c *Client) Follow(ctx context.Context, from uint64, handler func(messages.Record) error, opts ...FollowOption) error {
	var o followOptions
	for _, opt := range opts {
		opt(&o)
	}
	notify := func(err error) {
		if o.onWait != nil {
			o.onWait(err)
		}
	}
	next := from
	retry := followRetryMin
	waiting := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Each long poll gets its own deadline, even under a ctx that has
		// a far one, so that a poll whose reply is lost is retried soon.
		// While waiting for the service, reads do not long-poll, so
		// that its return is noticed (and reported) as soon as it answers.
		wait := followWait
		if waiting {
			wait = 0
		}
		rctx, cancel := context.WithTimeout(ctx, c.timeout+wait)
		reply, err := c.followRead(rctx, &o, &next, ReadOptions{MaxRecords: followBatch, Wait: wait})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A request that timed out while ctx lives means the service
			// died or a reply was lost in a reconnect: reads are
			// idempotent, so it is retried like an unavailable service.
			if !errors.Is(err, ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
				return fmt.Errorf("follow at offset %d: %w", next, err)
			}
			if !waiting {
				waiting = true
				notify(err)
			}
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			retry = min(2*retry, followRetryMax)
			continue
		}
		retry = followRetryMin
		if waiting {
			waiting = false
			notify(nil)
		}
		for _, r := range reply.Records {
			if r.Offset != next {
				return fmt.Errorf("follow: got offset %d where %d was due", r.Offset, next)
			}
			if err := handler(r); err != nil {
				return err
			}
			next++
		}
		if reply.NextOffset != next {
			return fmt.Errorf("follow: reply continues at %d, records end at %d", reply.NextOffset, next)
		}
	}
}

// followRead is Follow's read at *next, or, until a read by time has found
// where to start, at o.since; it then sets *next to that offset.
func (c *Client) followRead(ctx context.Context, o *followOptions, next *uint64, opts ReadOptions) (messages.ReadReply, error) {
	if o.since == nil {
		return c.Read(ctx, *next, opts)
	}
	reply, err := c.ReadSince(ctx, *o.since, opts)
	if err != nil {
		return reply, err
	}
	o.since = nil
	*next = reply.NextOffset
	if len(reply.Records) > 0 {
		*next = reply.Records[0].Offset
	}
	return reply, nil
}
