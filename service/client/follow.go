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

// Follow calls handler with every record from offset from on, first the
// history and then new records as they commit, each exactly once and in
// offset order. It reads with long polls that continue from each reply's
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
func (c *Client) Follow(ctx context.Context, from uint64, handler func(messages.Record) error) error {
	next := from
	retry := followRetryMin
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Each long poll gets its own deadline, even under a ctx that has
		// a far one, so that a poll whose reply is lost is retried soon.
		rctx, cancel := context.WithTimeout(ctx, c.timeout+followWait)
		reply, err := c.Read(rctx, next, ReadOptions{MaxRecords: followBatch, Wait: followWait})
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
