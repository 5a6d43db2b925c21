package local

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service/dedup"
)

// The table of append ids is rebuilt at New from the records at the tail
// of the log that are young enough to be within the window, so that a
// retry after a restart or a crash is still recognised: the ids are in the
// records' headers (dedup.Stamp). The scan starts at the first record whose
// timestamp is within the window, found through the segment log's time
// index (timestamps never decrease, even when the clock steps back); and
// it decodes only the batches that hold the id header at all.

// idsFile, in the segment log's directory, is the table's checkpoint
// (dedup.SaveCheckpoint), which the saver saves at each roll, Close at the
// end, and New loads.
const idsFile = "append-ids"

// loadIDs returns the table of append ids of l as of now (the wall
// clock): the last checkpoint saved of l, fed the records appended since,
// or else a table rebuilt from l's records within the window. It says
// whether it read any record, which a checkpoint saved now would spare the
// next start after a crash.
func loadIDs(l *segment.Log, cfg dedup.Config, logger *slog.Logger) (*dedup.Table, bool, error) {
	feed := func(t *dedup.Table, from, next uint64) error { return observeRange(l, t, from, next, logger) }
	return dedup.LoadOrRebuild(filepath.Join(l.Dir(), idsFile), l, cfg, time.Now().UnixNano(), feed, logger)
}

// saveIDs saves t's checkpoint for the next New. Once the log failed it
// removes the checkpoint instead, since the table may have gone ahead of
// the records. A checkpoint that cannot
// be saved costs the next start a rebuild, nothing more.
func saveIDs(l *segment.Log, t *dedup.Table, failed error, logger *slog.Logger) {
	if failed != nil {
		if err := dedup.RemoveCheckpoint(filepath.Join(l.Dir(), idsFile)); err != nil {
			logger.Warn("append id checkpoint not removed", "error", err)
		}
		return
	}
	if err := t.SaveLogCheckpoint(filepath.Join(l.Dir(), idsFile), l); err != nil {
		logger.Warn("append ids not saved; the next start rebuilds them from the records", "error", err)
	}
}

// rebuildBatch is how many records the rebuild reads at a time.
const rebuildBatch = 1024

// observeRange feeds t the ids stamped on l's records [from, next),
// decoding only the batches that hold the id header at all.
func observeRange(l *segment.Log, t *dedup.Table, from, next uint64, logger *slog.Logger) error {
	marker := []byte(messages.IDHeader)
	var buf []byte
	for off := from; off < next; {
		b, err := l.ReadRawBatch(off, rebuildBatch, 4<<20, buf[:0])
		var damage *segment.DamageError
		if errors.As(err, &damage) {
			// The id of a damaged record is lost; its batch is answered
			// as new if retried.
			logger.Warn("append id of a damaged record not rebuilt", "offset", off, "error", err)
			off++
			continue
		}
		if err != nil {
			return fmt.Errorf("read offset %d: %w", off, err)
		}
		if bytes.Contains(b.Records, marker) {
			if err := observeAll(t, b.Records, b.N, logger); err != nil {
				return fmt.Errorf("records from offset %d: %w", off, err)
			}
		}
		buf = b.Records
		off += uint64(b.N)
		if b.Damage != nil {
			logger.Warn("append id of a damaged record not rebuilt", "offset", b.Damage.Offset, "error", b.Damage)
			off++
		}
	}
	return nil
}

// observeAll feeds the n records encoded back to back in raw to t. A
// record whose id headers Stamp did not write, such as one a client set
// before the headers were reserved, is reported and skipped: it must not
// keep the log from opening.
func observeAll(t *dedup.Table, raw []byte, n int, logger *slog.Logger) error {
	d := msgpack.NewDecoder(bytes.NewReader(raw))
	for range n {
		var r messages.Record
		if err := r.DecodeMsgpack(d); err != nil {
			return err
		}
		if err := t.Observe(&r); err != nil {
			logger.Warn("append id header not rebuilt", "error", err)
		}
	}
	return nil
}
