package dedup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/evlog/evlog/messages"
)

// A checkpoint is a table saved as its log goes (logcheckpoint.go: at
// each roll of a segment, and at a clean close), so that the next start
// loads it and feeds the table only the records appended since, instead of
// every record of the window: the window of a busy log holds millions of
// records, and reading them made start-up grow with the log. The key says
// which log state it was taken of; a checkpoint of another log, of a
// different Config, of records no longer in the log, or damaged or cut
// short, is refused and the table rebuilt from the records as before. So a
// checkpoint needs no sync: a lost or torn one costs the rebuild.
//
// The file, all integers big-endian:
//
//	magic "EVLOGIDS" | version uint32 | window int64 | max ids uint32 |
//	log id [16]byte | low uint64 | next uint64 | last crc32c uint32 | count uint32 |
//	count × (timestamp int64 | first uint64 | last uint64 | id length uint8 | id) |
//	crc32c uint32 of all that precedes it
//
// The entries are the remembered ids, oldest first.

// CheckpointKey names the log state a checkpoint belongs to. While a log
// serves, its records are a function of its id and its offset range, since
// offsets are dense and records are only ever added at the end or removed
// from the front. A tool that replaces a directory's records (a restore
// over it) may keep both, so the key also holds a checksum of the last
// record: a checkpoint whose key matches was taken of the same records.
type CheckpointKey struct {
	// Log is the log's id.
	Log [16]byte
	// Low and Next are the log's lowest offset and the offset after its
	// last record.
	Low, Next uint64
	// Last is the CRC-32C of the stored encoding of the record at Next-1,
	// 0 when Low == Next.
	Last uint32
}

// ErrCheckpoint is wrapped by the errors of LoadCheckpoint for a file that
// exists but does not hold a checkpoint for the key and config asked for.
var ErrCheckpoint = errors.New("append id checkpoint not usable")

const (
	checkpointMagic   = "EVLOGIDS"
	checkpointVersion = 1
	// checkpointHead is the size of the fields before the entries, and
	// checkpointEntry that of an entry besides its id.
	checkpointHead  = 8 + 4 + 8 + 4 + 16 + 8 + 8 + 4 + 4
	checkpointEntry = 8 + 8 + 8 + 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendCheckpoint appends the checkpoint of t, taken of the log state
// key, to dst.
func (t *Table) AppendCheckpoint(dst []byte, key CheckpointKey) []byte {
	start := len(dst)
	dst = append(dst, checkpointMagic...)
	dst = binary.BigEndian.AppendUint32(dst, checkpointVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.window))
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.maxIDs))
	dst = append(dst, key.Log[:]...)
	dst = binary.BigEndian.AppendUint64(dst, key.Low)
	dst = binary.BigEndian.AppendUint64(dst, key.Next)
	dst = binary.BigEndian.AppendUint32(dst, key.Last)
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.next-t.first))
	for n := t.first; n < t.next; n++ {
		e := &t.ring[n&uint64(len(t.ring)-1)]
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.ts))
		dst = binary.BigEndian.AppendUint64(dst, e.span.First)
		dst = binary.BigEndian.AppendUint64(dst, e.span.Last)
		dst = append(dst, byte(len(e.id)))
		dst = append(dst, e.id...)
	}
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// SaveCheckpoint writes the checkpoint of t to path, through a temporary
// file renamed over it, so that a reader finds the old file or the new one
// whole, never a mix.
func (t *Table) SaveCheckpoint(path string, key CheckpointKey) error {
	return WriteCheckpoint(path, t.AppendCheckpoint(nil, key))
}

// WriteCheckpoint writes the checkpoint b, from AppendCheckpoint, to path
// as SaveCheckpoint does: a caller that encodes under its lock writes
// after releasing it.
func WriteCheckpoint(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save append ids: %w", err)
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save append ids: %w", err)
	}
	return nil
}

// LoadCheckpoint reads the checkpoint at path into a new table of cfg if
// it was taken by a table of the same config and accept, given the key of
// the log state it was taken of, returns nil. It keeps the file then, and
// removes it otherwise, so that an unusable checkpoint is read once. It
// returns an error wrapping os.ErrNotExist when there is no file, and one
// wrapping ErrCheckpoint when the file is damaged, of another config, or
// refused by accept.
func LoadCheckpoint(path string, cfg Config, accept func(CheckpointKey) error) (*Table, error) {
	t, err := New(cfg)
	if err != nil {
		return nil, err
	}
	b, err := readBounded(path, int64(checkpointHead)+int64(t.maxIDs)*(checkpointEntry+messages.MaxIDLen)+4)
	if err == nil {
		err = t.loadCheckpoint(b, accept)
	}
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			if rerr := RemoveCheckpoint(path); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		return nil, err
	}
	return t, nil
}

// RemoveCheckpoint removes the checkpoint at path, if any, durably: a
// checkpoint refused once must not come back after a power loss, when the
// log may hold other records at its offsets by then.
func RemoveCheckpoint(path string) error {
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove append ids: %w", err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err == nil {
		err = d.Sync()
		if cerr := d.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("sync the directory of %s: %w", path, err)
	}
	return nil
}

// readBounded reads the file at path, refusing one longer than limit, so
// that a foreign file of any size costs no more memory than a full table.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("load append ids: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s is longer than a checkpoint can be", ErrCheckpoint, path)
	}
	return b, nil
}

// loadCheckpoint fills t, which is empty, from the checkpoint b if accept
// takes its key.
func (t *Table) loadCheckpoint(b []byte, accept func(CheckpointKey) error) error {
	if err := t.decodeCheckpoint(b, accept); err != nil {
		return fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	return nil
}

func (t *Table) decodeCheckpoint(b []byte, accept func(CheckpointKey) error) error {
	if len(b) < checkpointHead+4 {
		return fmt.Errorf("%d bytes, too short for a checkpoint", len(b))
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(body):]) {
		return errors.New("checksum mismatch")
	}
	if string(body[:8]) != checkpointMagic {
		return errors.New("not a checkpoint")
	}
	if v := binary.BigEndian.Uint32(body[8:]); v != checkpointVersion {
		return fmt.Errorf("version %d, want %d", v, checkpointVersion)
	}
	window, maxIDs := int64(binary.BigEndian.Uint64(body[12:])), int(binary.BigEndian.Uint32(body[20:]))
	if window != t.window || maxIDs != t.maxIDs {
		return fmt.Errorf("taken with window %v and %d ids, the table has %v and %d",
			time.Duration(window), maxIDs, time.Duration(t.window), t.maxIDs)
	}
	var got CheckpointKey
	copy(got.Log[:], body[24:40])
	got.Low, got.Next = binary.BigEndian.Uint64(body[40:]), binary.BigEndian.Uint64(body[48:])
	got.Last = binary.BigEndian.Uint32(body[56:])
	if err := accept(got); err != nil {
		return err
	}
	count := int(binary.BigEndian.Uint32(body[60:]))
	if count > t.maxIDs {
		return fmt.Errorf("%d ids, more than %d", count, t.maxIDs)
	}
	entries, err := decodeEntries(body[checkpointHead:], count)
	if err != nil {
		return err
	}
	t.restore(entries)
	return nil
}

// decodeEntries decodes the count entries that must fill b exactly.
func decodeEntries(b []byte, count int) ([]entry, error) {
	entries := make([]entry, 0, count)
	for range count {
		if len(b) < checkpointEntry {
			return nil, errors.New("cut short in an entry")
		}
		e := entry{
			ts:   int64(binary.BigEndian.Uint64(b)),
			span: Span{First: binary.BigEndian.Uint64(b[8:]), Last: binary.BigEndian.Uint64(b[16:])},
		}
		n := int(b[24])
		b = b[checkpointEntry:]
		if n == 0 || n > messages.MaxIDLen || n > len(b) {
			return nil, fmt.Errorf("an id of %d bytes", n)
		}
		e.id, b = string(b[:n]), b[n:]
		entries = append(entries, e)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d bytes after the last entry", len(b))
	}
	return entries, nil
}

// restore makes entries, oldest first, the remembered ids of t, which is
// empty: the same state as the table they were saved from, not a replay of
// its adds, which could expire differently.
func (t *Table) restore(entries []entry) {
	size := len(t.ring)
	for size < len(entries) {
		size *= 2
	}
	t.ring = make([]entry, size)
	for i := range entries {
		entries[i].hash = slotHash(maphash.String(t.seed, entries[i].id))
		t.ring[(t.first+uint64(i))&uint64(size-1)] = entries[i]
	}
	t.next = t.first + uint64(len(entries))
	t.rebuild(2 * size)
	t.size.Store(int64(len(entries)))
}
