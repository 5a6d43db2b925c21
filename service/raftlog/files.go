package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// appliedFile, beside the segment log's directory, holds the Raft index
// of the last truncate or restore: 8 bytes, big-endian. The index of
// other entries is on the records they wrote.
const appliedFile = "applied"

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
