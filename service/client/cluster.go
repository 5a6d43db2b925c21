package client

import (
	"context"

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
