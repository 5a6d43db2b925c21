package raftlog

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service/dedup"
)

// openFSM opens the state machine in dir: the segment log in dir/log,
// never synced per apply, how far it got (the index on its last record
// or in the applied file, whichever is higher), and the dedup table,
// loaded from the checkpoint of the last clean close or rebuilt from its
// tail.
func openFSM(dir string, segCfg segment.Config, dedupCfg dedup.Config, logger *slog.Logger) (*fsm, error) {
	logDir := filepath.Join(dir, "log")
	if err := finishRestore(logDir); err != nil {
		return nil, err
	}
	segCfg.Sync.Mode = segment.SyncNever
	seg, err := segment.NewLog(logDir, segCfg)
	if err != nil {
		return nil, err
	}
	if err := checkRecovered(seg, dir); err != nil {
		return nil, errors.Join(err, seg.Close())
	}
	f := &fsm{dir: dir, segCfg: segCfg, dedupCfg: dedupCfg, logger: logger, seg: seg, recovered: seg.Recovered(), changed: make(chan struct{}), snapshotDue: make(chan struct{}, 1)}
	if err := f.load(dedupCfg); err != nil {
		if errors.Is(err, segment.ErrCorrupt) {
			// The tail that load reads back (the applied index, the ids of
			// the dedup window) is damaged: refuse it as the scrub would.
			err = damaged(dir, err)
		}
		return nil, errors.Join(err, seg.Close())
	}
	return f, nil
}

// load reads the applied index, the last timestamp and the dedup table
// from the segment log and the applied file.
func (f *fsm) load(dedupCfg dedup.Config) error {
	a, err := readApplied(f.dir)
	if err != nil {
		return err
	}
	f.applied, f.lastTS = a.index, a.ts
	if high, err := f.seg.HighestOffset(); err == nil {
		last, err := f.seg.Read(high)
		if err != nil {
			return fmt.Errorf("read the last record, which holds the applied raft index: %w", err)
		}
		index, ts, ok, err := stampedIndex(last)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("last record %d has no %s header: the log was not written by a replicated log", high, IndexHeader)
		}
		f.applied, f.lastTS = max(f.applied, index), max(f.lastTS, ts)
	} else if !errors.Is(err, segment.ErrEmpty) {
		return err
	}
	if f.ids, err = loadIDs(f.dir, f.seg, dedupCfg, f.lastTS, f.logger); err != nil {
		return err
	}
	f.committed.Store(f.seg.NextOffset())
	return nil
}
