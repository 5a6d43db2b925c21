package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// appliedFile, beside the segment log's directory, holds the Raft index
// of the last truncate or restore and the timestamp of the last batch
// applied by then: 16 bytes, both big-endian. A file of 8 bytes, the
// index alone, is the form before the timestamp, read as timestamp 0. The
// index and timestamp of other entries are on the records they wrote;
// the file keeps them when a truncate leaves no record to.
const appliedFile = "applied"

// appliedState is what the applied file holds.
type appliedState struct {
	index uint64
	ts    int64
}

func readApplied(dir string) (appliedState, error) {
	b, err := os.ReadFile(filepath.Join(dir, appliedFile))
	if errors.Is(err, os.ErrNotExist) {
		return appliedState{}, nil
	}
	if err != nil {
		return appliedState{}, err
	}
	switch len(b) {
	case 8:
		return appliedState{index: binary.BigEndian.Uint64(b)}, nil
	case 16:
		return appliedState{index: binary.BigEndian.Uint64(b), ts: int64(binary.BigEndian.Uint64(b[8:]))}, nil
	}
	return appliedState{}, fmt.Errorf("%s: %d bytes, want 8 or 16", filepath.Join(dir, appliedFile), len(b))
}

// writeApplied replaces the applied file atomically and durably: a
// truncate or a restore is acknowledged only once it is recorded.
func writeApplied(dir string, a appliedState) error {
	b := binary.BigEndian.AppendUint64(nil, a.index)
	b = binary.BigEndian.AppendUint64(b, uint64(a.ts))
	return writeFileAtomic(dir, appliedFile, b)
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
