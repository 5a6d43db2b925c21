package raftlog

import (
	"encoding/binary"
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

// appliedFile, beside the segment log's directory, holds the Raft index
// of the last truncate or restore: 8 bytes, big-endian. The index of
// other entries is on the records they wrote.
const appliedFile = "applied"

// openFSM opens the state machine in dir: the segment log in dir/log,
// never synced per apply, how far it got (the index on its last record
// or in the applied file, whichever is higher), and the dedup table,
// rebuilt from its tail.
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
	f := &fsm{dir: dir, segCfg: segCfg, dedupCfg: dedupCfg, logger: logger, seg: seg, recovered: seg.Recovered(), changed: make(chan struct{})}
	if err := f.load(dedupCfg); err != nil {
		return nil, errors.Join(err, seg.Close())
	}
	return f, nil
}

// load reads the applied index, the last timestamp and the dedup table
// from the segment log and the applied file.
func (f *fsm) load(dedupCfg dedup.Config) error {
	ids, err := dedup.New(dedupCfg)
	if err != nil {
		return err
	}
	f.ids = ids
	if f.applied, err = readApplied(f.dir); err != nil {
		return err
	}
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
		f.applied, f.lastTS = max(f.applied, index), ts
	} else if !errors.Is(err, segment.ErrEmpty) {
		return err
	}
	if err := rebuildIDs(f.seg, f.ids, f.lastTS, f.logger); err != nil {
		return fmt.Errorf("rebuild append ids: %w", err)
	}
	f.committed.Store(f.seg.NextOffset())
	return nil
}

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

func readApplied(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, appliedFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("%s: %d bytes, want 8", filepath.Join(dir, appliedFile), len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// writeApplied replaces the applied file atomically and durably: a
// truncate or a restore is acknowledged only once it is recorded.
func writeApplied(dir string, index uint64) error {
	return writeFileAtomic(dir, appliedFile, binary.BigEndian.AppendUint64(nil, index))
}

// writeFileAtomic writes name in dir through a synced temporary file,
// renamed over it, and syncs dir.
func writeFileAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// finishRestore completes or discards a restore that a crash interrupted
// (restore.go): the staged log is complete once it is renamed aside for
// logDir to take, that is when logDir is missing; a staged log beside
// logDir is incomplete. The replaced log, renamed to .old, goes.
func finishRestore(logDir string) error {
	stage, old := logDir+".restore", logDir+".old"
	_, serr := os.Stat(stage)
	_, lerr := os.Stat(logDir)
	switch {
	case serr == nil && lerr == nil:
		if err := os.RemoveAll(stage); err != nil {
			return fmt.Errorf("discard an incomplete restore: %w", err)
		}
	case serr == nil:
		if err := os.Rename(stage, logDir); err != nil {
			return fmt.Errorf("finish restore: %w", err)
		}
		if err := syncDir(filepath.Dir(logDir)); err != nil {
			return err
		}
	}
	return os.RemoveAll(old)
}
