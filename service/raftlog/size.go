package raftlog

import (
	"fmt"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/snapshot"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/dedup"
)

// indexStampBytes bounds what stampIndex adds to a record's encoding: the
// header's key and its value, two decimal numbers and a comma, and the
// headers map's key and header when the record has no headers.
var indexStampBytes = messages.StrSize(len(IndexHeader)) + messages.StrSize(20+1+20) + 1 + len("headers") + 5

// checkFits refuses, before it is proposed, an append with a record that
// a segment of this node cannot hold once it is stamped with the append's
// id and a Raft index. The leader decides it, so that a record too large
// is refused before it enters Raft's log rather than when each replica
// applies it: there a refusal would depend on each node's own segment
// size, and replicas whose sizes differ would decide differently. A
// replica that cannot hold what the leader accepted fails instead
// (fsm.appendFailed).
func checkFits(cfg segment.Config, a *service.Append) error {
	limit := cfg.Segment.MaxStoreBytes
	if limit == 0 {
		limit = segment.DefaultMaxStoreBytes
	}
	for i, r := range a.Records {
		n := messages.MaxEncodedSize(r) + indexStampBytes + snapshot.FrameHeaderSize
		if i == 0 && a.ID != "" {
			n += dedup.StampBytes(a.ID, len(r.Headers) > 0)
		}
		if uint64(n) > limit {
			return fmt.Errorf("%w: record %d takes up to %d bytes, a segment holds %d", service.ErrTooLarge, i, n, limit)
		}
	}
	return nil
}
