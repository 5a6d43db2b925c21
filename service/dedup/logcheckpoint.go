package dedup

import (
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/evlog/evlog/segment"
)

// KeyOf returns the key of l's state as it is now.
func KeyOf(l *segment.Log) (CheckpointKey, error) {
	low, err := l.LowestOffset()
	if err != nil {
		return CheckpointKey{}, err
	}
	k := CheckpointKey{Log: l.ID(), Low: low, Next: l.NextOffset()}
	if k.Low < k.Next {
		if k.Last, err = recordChecksum(l, k.Next-1); err != nil {
			return CheckpointKey{}, err
		}
	}
	return k, nil
}

// recordChecksum is the CRC-32C of the stored encoding of l's record at
// offset.
func recordChecksum(l *segment.Log, offset uint64) (uint32, error) {
	b, err := l.ReadRawBatch(offset, 1, math.MaxInt32, nil)
	if err != nil {
		return 0, fmt.Errorf("read the record at %d: %w", offset, err)
	}
	return crc32.Checksum(b.Records, castagnoli), nil
}

// LoadLogCheckpoint loads the checkpoint at path of the segment log l and
// returns the table with the offset from which the caller feeds l's
// records to Observe, up to its end, to bring the table up to date.
//
// The checkpoint is taken if it was taken of l as it is now (from is then
// l's next offset) or of l as it was before records were appended (from is
// where the checkpoint ends). Records are only appended at the end and
// removed from the front, so its records are still l's when l has the
// same id, has not gone below its lowest offset, reaches at least its next
// offset, and stores the same record at the offset before that: a record
// lost to a crash, and its offset reused, would differ. When the front
// was truncated past the checkpoint's records their ids go with them: the
// table is then empty and from is l's lowest offset. The ids below l's
// lowest offset are forgotten, as a table rebuilt from l would not know
// them.
func LoadLogCheckpoint(path string, l *segment.Log, cfg Config) (t *Table, from uint64, err error) {
	removeStaleTemps(path)
	low, err := l.LowestOffset()
	if err != nil {
		return nil, 0, err
	}
	next, id := l.NextOffset(), l.ID()
	accept := func(k CheckpointKey) error {
		switch {
		case k.Log != id:
			return fmt.Errorf("taken of log %x, not of %x", k.Log, id)
		case k.Low > low || k.Next > next:
			return fmt.Errorf("taken of offsets [%d, %d), the log holds [%d, %d)", k.Low, k.Next, low, next)
		case k.Next <= low:
			// Truncated past every record it knew: nothing to check,
			// since all its ids go.
			return nil
		}
		last, err := recordChecksum(l, k.Next-1)
		if err != nil {
			return err
		}
		if last != k.Last {
			return fmt.Errorf("the record at %d is not the one it was taken after", k.Next-1)
		}
		from = k.Next
		return nil
	}
	from = low
	if t, err = LoadCheckpoint(path, cfg, accept); err != nil {
		return nil, 0, err
	}
	t.ForgetBelow(low)
	return t, from, nil
}

// SaveLogCheckpoint saves the checkpoint of t, the table of the segment
// log l as it is now, at path.
func (t *Table) SaveLogCheckpoint(path string, l *segment.Log) error {
	key, err := KeyOf(l)
	if err != nil {
		return fmt.Errorf("save append ids: %w", err)
	}
	return t.SaveCheckpoint(path, key)
}

// removeStaleTemps removes the temporary files that saves of path which a
// crash interrupted left beside it.
func removeStaleTemps(path string) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return
	}
	prefix := filepath.Base(path) + ".tmp"
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && !e.IsDir() {
			if err := os.Remove(filepath.Join(filepath.Dir(path), e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return
			}
		}
	}
}

// Feed feeds a table the ids stamped on the records [from, next) of the
// log it belongs to, in order; how to read them is the log's.
type Feed func(t *Table, from, next uint64) error

// LoadOrRebuild returns the table of cfg for the segment log l as of now,
// the timestamp its next lookup is decided at: the checkpoint at path
// (LoadLogCheckpoint) fed the records since, or, when there is none it can
// take or reading the window costs less, a new table fed the records of
// the window, found through l's time index. Both decide alike: the table
// is a function of the records, and the checkpoint is that table as it
// was. read says whether any record was fed.
func LoadOrRebuild(path string, l *segment.Log, cfg Config, now int64, feed Feed, logger *slog.Logger) (t *Table, read bool, err error) {
	t, from, err := LoadLogCheckpoint(path, l, cfg)
	if err == nil {
		// Reading the records since the checkpoint must cost less than
		// reading the window, which it does unless the checkpoint is
		// older than the window: one saved at a clean close long
		// before a crash.
		var start uint64
		if start, err = l.OffsetAtTime(now - int64(t.Window())); err != nil {
			return nil, false, err
		}
		if next := l.NextOffset(); from >= start {
			if err := feed(t, from, next); err != nil {
				return nil, false, fmt.Errorf("append ids since the checkpoint: %w", err)
			}
			logger.Info("loaded append ids", "ids", t.Len(), "records_read", next-from)
			return t, from < next, nil
		}
		err = fmt.Errorf("the checkpoint ends at %d, before the window starts at %d", from, start)
	}
	if !errors.Is(err, os.ErrNotExist) {
		// A stop that was not clean, or a config changed since: the
		// records hold the truth.
		logger.Info("append id checkpoint not used", "error", err)
	}
	if t, err = New(cfg); err != nil {
		return nil, false, err
	}
	// The time index finds where the window starts without reading the
	// records before it.
	from, err = l.OffsetAtTime(now - int64(t.Window()))
	if err == nil {
		err = feed(t, from, l.NextOffset())
	}
	if err != nil {
		return nil, false, fmt.Errorf("rebuild append ids: %w", err)
	}
	if n := t.Len(); n > 0 {
		logger.Info("rebuilt append ids", "ids", n, "from_offset", from)
	}
	return t, true, nil
}
