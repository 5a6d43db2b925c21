package raftlog

import (
	"log/slog"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/snapshot"
	"github.com/evlog/evlog/service/dedup"
)

// rebuildIDs fills t from the stamped records within t's window of last,
// the timestamp of the last applied batch: not the wall clock, so that a
// node that restarted decides as one that never stopped.
func rebuildIDs(l *segment.Log, t *dedup.Table, last int64, logger *slog.Logger) error {
	low, err := l.LowestOffset()
	if err != nil {
		return err
	}
	next := l.NextOffset()
	from := firstWithin(l, low, next, last-int64(t.Window()))
	err = snapshot.ScanLog(l, from, next, func(_ []byte, r *messages.Record) error {
		if err := t.Observe(r); err != nil {
			logger.Warn("append id header not rebuilt", "error", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n := t.Len(); n > 0 {
		logger.Info("rebuilt append ids", "ids", n, "from_offset", from)
	}
	return nil
}

// firstWithin returns the lowest offset in [low, next) whose record's
// timestamp is at least oldest, by binary search (timestamps grow with
// the offsets: the FSM never lets them go back), or next when none is.
func firstWithin(l *segment.Log, low, next uint64, oldest int64) uint64 {
	lo, hi := low, next
	for lo < hi {
		mid := lo + (hi-lo)/2
		r, err := l.Read(mid)
		if err == nil && r.Timestamp >= oldest {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
