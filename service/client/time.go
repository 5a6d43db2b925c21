package client

import (
	"context"
	"time"

	"github.com/evlog/evlog/messages"
)

// ReadSince returns records from the first one whose timestamp is at or
// after since, as Read from that record's offset would. A since before
// the oldest record reads from the lowest offset; after the newest, it
// returns no records and the next offset, after waiting up to opts.Wait
// for one. Timestamps are the service's clock at append, which it never
// lets go backwards.
func (c *Client) ReadSince(ctx context.Context, since time.Time, opts ReadOptions) (messages.ReadReply, error) {
	ts := since.UnixNano()
	return c.read(ctx, messages.ReadRequest{Timestamp: &ts}, opts)
}

// FollowSince makes Follow start at the first record whose timestamp is
// at or after since, as ReadSince finds it, instead of at its from
// offset, which it then ignores. A since after the newest record starts at
// the end: the records appended from then on follow.
func FollowSince(since time.Time) FollowOption {
	return func(o *followOptions) { o.since = &since }
}
