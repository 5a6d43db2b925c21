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
// (dedup.SaveCheckpoint), which a clean close saves and an open loads and
// removes.
const idsFile = "append-ids"

// loadIDs returns the dedup table of the segment log l: the checkpoint in
// dir with the records applied since, or else a table rebuilt from l's
// records within the window of last. Both decide alike: the table is a
// function of the records (package dedup), and the checkpoint is that
// table as it was.
func loadIDs(dir string, l *segment.Log, cfg dedup.Config, last int64, logger *slog.Logger) (*dedup.Table, error) {
	t, from, err := dedup.LoadLogCheckpoint(filepath.Join(dir, idsFile), l, cfg)
	if err == nil {
		// Used once: a node saves its checkpoint only at a clean close,
		// so after a crash its open reads the window again, which
		// refuses it at once if the window is damaged, as a node that
		// failed for damage and was killed before its close must be.
		removeIDs(dir, logger)
		// Reading the records since the checkpoint must cost less than
		// reading the window, which it does unless the checkpoint is
		// older than the window: a cluster node's, saved at its last
		// clean close, after a crash.
		var start uint64
		if start, err = l.OffsetAtTime(last - int64(t.Window())); err != nil {
			return nil, err
		}
		if next := l.NextOffset(); from >= start {
			if err := observeRange(l, t, from, next, logger); err != nil {
				return nil, fmt.Errorf("append ids since the checkpoint: %w", err)
			}
			logger.Info("loaded append ids", "ids", t.Len(), "records_read", next-from)
			return t, nil
		}
		err = fmt.Errorf("the checkpoint ends at %d, before the window starts at %d", from, start)
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

// removeIDs removes the checkpoint in dir, if any.
func removeIDs(dir string, logger *slog.Logger) {
	if err := dedup.RemoveCheckpoint(filepath.Join(dir, idsFile)); err != nil {
		logger.Warn("append id checkpoint not removed", "error", err)
	}
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
	if err := observeRange(l, t, from, next, logger); err != nil {
		return err
	}
	if n := t.Len(); n > 0 {
		logger.Info("rebuilt append ids", "ids", n, "from_offset", from)
	}
	return nil
}

// observeRange feeds t the ids stamped on l's records [from, next).
func observeRange(l *segment.Log, t *dedup.Table, from, next uint64, logger *slog.Logger) error {
	return snapshot.ScanLog(l, from, next, func(_ []byte, r *messages.Record) error {
		if err := t.Observe(r); err != nil {
			logger.Warn("append id header not rebuilt", "error", err)
		}
		return nil
	})
}
