package raftlog

import (
	"log/slog"
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

// loadIDs returns the dedup table of the segment log l as of last, the
// timestamp of the last applied batch (not the wall clock, so that a node
// that restarted decides as one that never stopped): the checkpoint in dir
// fed the records applied since, or else a table rebuilt from l's records
// within the window.
func loadIDs(dir string, l *segment.Log, cfg dedup.Config, last int64, logger *slog.Logger) (*dedup.Table, error) {
	feed := func(t *dedup.Table, from, next uint64) error { return observeRange(l, t, from, next, logger) }
	t, _, err := dedup.LoadOrRebuild(filepath.Join(dir, idsFile), l, cfg, last, feed, logger)
	// Used once: a node saves its checkpoint only at a clean close, so
	// after a crash its open reads the window again, which refuses it at
	// once if the window is damaged, as a node that failed for damage and
	// was killed before its close must be.
	removeIDs(dir, logger)
	return t, err
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

// observeRange feeds t the ids stamped on l's records [from, next).
func observeRange(l *segment.Log, t *dedup.Table, from, next uint64, logger *slog.Logger) error {
	return snapshot.ScanLog(l, from, next, func(_ []byte, r *messages.Record) error {
		if err := t.Observe(r); err != nil {
			logger.Warn("append id header not rebuilt", "error", err)
		}
		return nil
	})
}
