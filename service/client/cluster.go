package client

import (
	"context"
	"time"

	"github.com/evlog/evlog/messages"
)

// ClusterStatus asks a cluster of evlog nodes for its status: the leader
// and every member, as the node that answers gathers them from the
// others. A single node does not answer it (ErrUnavailable, no
// responders).
func (c *Client) ClusterStatus(ctx context.Context) (messages.ClusterStatus, error) {
	var reply messages.ClusterStatus
	err := c.call(ctx, c.subjects.ClusterStatus, nil, 0, &reply)
	return reply, err
}

// The membership changes are answered by the leader alone. Each is sent
// again, as an append with WithRetry is, while no node answers or one
// answers 503 (during an election, or on a follower that just lost the
// leadership), until ctx is done: a change that is answered is made.
// Their errors match ErrNotCluster on a single node, ErrUnknownMember
// for an id that is not a member, and ErrBadRequest for a request that
// cannot be made. A removal whose answer was lost, and which was made,
// is answered ErrUnknownMember when it is sent again.

// ClusterAdd adds node id, whose Raft transport is at addr, as a
// non-voter; the leader promotes it to a voter once it has caught up.
// The node is started beforehand without a peer list, so that it waits
// to be added.
func (c *Client) ClusterAdd(ctx context.Context, id, addr string) (messages.ClusterChangeReply, error) {
	return c.changeMembership(ctx, c.subjects.ClusterAdd, &messages.ClusterAddRequest{ID: id, Address: addr})
}

// ClusterRemove removes node id from the cluster; it may be the leader,
// which then leaves the others to elect one.
func (c *Client) ClusterRemove(ctx context.Context, id string) (messages.ClusterChangeReply, error) {
	return c.changeMembership(ctx, c.subjects.ClusterRemove, &messages.ClusterRemoveRequest{ID: id})
}

// ClusterTransfer hands the leadership to voter to, or to the most
// up-to-date voter when to is empty.
func (c *Client) ClusterTransfer(ctx context.Context, to string) (messages.ClusterChangeReply, error) {
	return c.changeMembership(ctx, c.subjects.ClusterTransfer, &messages.ClusterTransferRequest{To: to})
}

func (c *Client) changeMembership(ctx context.Context, subject string, req any) (messages.ClusterChangeReply, error) {
	var reply messages.ClusterChangeReply
	body, err := messages.Marshal(req)
	if err != nil {
		return reply, err
	}
	p := RetryPolicy{Attempts: 20}.withDefaults()
	wait := p.Backoff
	for attempt := 1; ; attempt++ {
		reply = messages.ClusterChangeReply{}
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		err = c.call(actx, subject, body, 0, &reply)
		cancel()
		if err == nil || attempt == p.Attempts || ctx.Err() != nil || !retryable(err) {
			return reply, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return reply, err
		case <-t.C:
		}
		wait = min(2*wait, p.MaxBackoff)
	}
}
