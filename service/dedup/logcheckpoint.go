package dedup

import (
	"errors"
	"fmt"
	"hash/crc32"
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
