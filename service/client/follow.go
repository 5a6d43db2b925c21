package client

import (
	"context"
	"fmt"
	"time"

	"github.com/evlog/evlog/messages"
)

// Follow's reads: large batches while catching up, and long polls short
// enough to notice a cancelled context's effect on the service promptly.
const (
	followBatch = 1000
	followWait  = 5 * time.Second
)

// Follow calls handler with every record from offset from on, first the
// history and then new records as they commit, each exactly once and in
// offset order. It reads with long polls that continue from each reply's
// next offset, so no record falls between history and live ones however
// appends race with the hand-over.
//
// It returns ctx.Err() once ctx is done, the handler's error as is, or the
// error of a read (for example ErrOffsetOutOfRange once truncation has
// overtaken it, or ErrUnavailable when the service goes away).
func (c *Client) Follow(ctx context.Context, from uint64, handler func(messages.Record) error) error {
	next := from
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		reply, err := c.Read(ctx, next, ReadOptions{MaxRecords: followBatch, Wait: followWait})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("follow at offset %d: %w", next, err)
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
