package raftlog

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/snapshot"
	"github.com/evlog/evlog/service"
)

// Limits of one batch written while restoring: memory stays at about
// restoreBytes, or one record when a record is larger.
const (
	restoreRecords = 1024
	restoreBytes   = 1 << 20
)

// restore replaces the state with a snapshot stream: a snapState, then the
// records in the segment/snapshot format. The records go to a new segment
// log staged beside the current one, starting at the stream's first
// offset; only once it is complete and synced is it swapped in, so that
// readers are held up for the swap only and a crash leaves one log or the
// other (finishRestore).
func (f *fsm) restore(r io.Reader) (snapState, error) {
	st, err := readState(r)
	if err != nil {
		return st, err
	}
	if st.Live {
		return st, errors.New("restore: the snapshot holds no records (a persisted snapshot, not a stream)")
	}
	return st, f.restoreRecords(r, st)
}

// restoreRecords restores the records of the stream r, whose state is st.
func (f *fsm) restoreRecords(r io.Reader, st snapState) error {
	if f.seg == nil {
		// A failed swap left no log, and the node has failed.
		return fmt.Errorf("%w: restore: no log to replace", service.ErrLogFailed)
	}
	logDir := f.seg.Dir()
	stage := logDir + ".restore"
	if err := os.RemoveAll(stage); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := f.stage(stage, r, st); err != nil {
		return errors.Join(fmt.Errorf("restore: %w", err), os.RemoveAll(stage))
	}
	if err := f.swap(logDir); err != nil {
		f.onFail(err)
		return err
	}
	ids, err := loadIDs(f.dir, f.seg, f.dedupCfg, st.LastTS, f.logger)
	if err != nil {
		// The log is the snapshot's now, the table still the old one's:
		// nothing may decide from it, nor save it.
		err = fmt.Errorf("restore: %w", err)
		f.onFail(err)
		return err
	}
	if err := writeApplied(f.dir, appliedState{index: st.Index, ts: st.LastTS}); err != nil {
		f.onFail(err)
		return err
	}
	f.mu.Lock() // Stats reads the table's size
	f.ids = ids
	f.mu.Unlock()
	f.applied, f.lastTS = st.Index, st.LastTS
	f.advance(f.seg.NextOffset())
	f.logger.Info("restored from snapshot", "raft_index", st.Index, "lowest", st.Lowest, "next", st.Next)
	return nil
}

// stage writes the records of the stream r to a new segment log in dir
// and syncs it.
func (f *fsm) stage(dir string, r io.Reader, st snapState) error {
	sr, err := snapshot.NewReader(r)
	if err != nil {
		return err
	}
	if h := sr.Header(); h.First != st.Lowest || h.Next != st.Next {
		return fmt.Errorf("stream holds [%d, %d), its state says [%d, %d)", h.First, h.Next, st.Lowest, st.Next)
	}
	cfg := f.segCfg
	cfg.Segment.InitialOffset = st.Lowest
	seg, err := segment.NewLog(dir, cfg)
	if err != nil {
		return err
	}
	err = copyRecords(sr, seg)
	if err == nil {
		err = seg.Sync()
	}
	return errors.Join(err, seg.Close())
}

// copyRecords appends the records of sr to seg, a batch at a time.
func copyRecords(sr *snapshot.Reader, seg *segment.Log) error {
	var batch []*messages.Record
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := seg.AppendUnsynced(batch)
		clear(batch)
		batch, size = batch[:0], 0
		return err
	}
	for {
		rec, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return flush()
		}
		if err != nil {
			return err
		}
		batch = append(batch, rec)
		size += len(rec.Value) + len(rec.Key)
		if len(batch) >= restoreRecords || size >= restoreBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// swap puts the staged log in place of the current one: the current
// directory is renamed aside, the staged one renamed into its place, and
// the old one deleted.
func (f *fsm) swap(logDir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.seg.Close(); err != nil {
		return fmt.Errorf("restore: close the replaced log: %w", err)
	}
	f.seg = nil
	old := logDir + ".old"
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(logDir, old); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := finishRestore(logDir); err != nil {
		return err
	}
	seg, err := segment.NewLog(logDir, f.segCfg)
	if err != nil {
		return fmt.Errorf("restore: open the restored log: %w", err)
	}
	f.seg = seg
	return nil
}
