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
	next := l.NextOffset()
	// The time index finds where the window starts without reading the
	// records before it.
	from, err := l.OffsetAtTime(last - int64(t.Window()))
	if err != nil {
		return err
	}
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
