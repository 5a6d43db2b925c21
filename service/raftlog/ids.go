package raftlog

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/snapshot"
	"github.com/evlog/evlog/service/dedup"
)

// idsFile, beside the applied file, is the dedup table's checkpoint
// (dedup.SaveCheckpoint), which a clean close saves and the next open
// loads and removes.
const idsFile = "append-ids"

// loadIDs returns the dedup table of the segment log l: the checkpoint in
// dir, when the last close saved one of l as it is now, or else a table
// rebuilt from l's records within the window of last. Both decide alike:
// the table is a function of the records (package dedup), and the
// checkpoint is that table as it was.
func loadIDs(dir string, l *segment.Log, cfg dedup.Config, last int64, logger *slog.Logger) (*dedup.Table, error) {
	t, err := dedup.LoadLogCheckpoint(filepath.Join(dir, idsFile), l, cfg)
	if err == nil {
		logger.Info("loaded append ids", "ids", t.Len())
		return t, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		logger.Info("append id checkpoint not used", "error", err)
	}
	if t, err = dedup.New(cfg); err != nil {
		return nil, err
	}
	if err := rebuildIDs(l, t, last, logger); err != nil {
		return nil, fmt.Errorf("rebuild append ids: %w", err)
	}
	return t, nil
}

// saveIDs saves t's checkpoint in dir for the next open. One that cannot
// be saved costs the next open a rebuild, nothing more.
func saveIDs(dir string, l *segment.Log, t *dedup.Table, logger *slog.Logger) {
	if err := t.SaveLogCheckpoint(filepath.Join(dir, idsFile), l); err != nil {
		logger.Warn("append ids not saved; the next start rebuilds them from the records", "error", err)
	}
}

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
