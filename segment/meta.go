package segment

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// FormatVersion is the on-disk format this package writes. Version 1 was
// the format of directories without a metadata file, whose stores carry no
// batch flags; version 2 added the metadata file and the batch flag. A log
// opens any version up to FormatVersion and refuses a newer one with
// ErrVersion.
const FormatVersion = 2

// metaName is the metadata file of a log directory.
const metaName = "evlog.meta"

// metaMagic opens every metadata file, whatever its version.
const metaMagic = "EVLOGMD\n"

// metaSize is the size of a version 2 metadata file: magic, version, log
// id, low-water mark and CRC.
const metaSize = len(metaMagic) + 4 + 16 + 8 + 4

// LogID identifies a log: 16 random bytes fixed when its directory is
// created, so that two logs, or a log and a copy restored over another,
// can be told apart.
type LogID [16]byte

// String returns the id in hex.
func (id LogID) String() string { return hex.EncodeToString(id[:]) }

// meta is the content of a log directory's metadata file.
type meta struct {
	version uint32
	id      LogID
	// low is the low-water mark: every record below it is gone, whether
	// or not its segment still exists.
	low uint64
}

// encode returns the file's bytes:
//
//	magic "EVLOGMD\n" | version uint32 | log id [16]byte | low-water mark uint64 | crc32c uint32
//
// big-endian, the CRC-32C covering every byte before it. Every version
// starts with the magic and the version and ends with such a CRC, so that
// a reader can tell a newer file from a damaged one.
func (m meta) encode() []byte {
	b := make([]byte, 0, metaSize)
	b = append(b, metaMagic...)
	b = binary.BigEndian.AppendUint32(b, m.version)
	b = append(b, m.id[:]...)
	b = binary.BigEndian.AppendUint64(b, m.low)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// decodeMeta parses the bytes of the metadata file name.
func decodeMeta(name string, b []byte) (meta, error) {
	minSize := len(metaMagic) + 4 + 4
	if len(b) < minSize || string(b[:len(metaMagic)]) != metaMagic {
		return meta{}, fmt.Errorf("%w: metadata file %s: %d bytes, not a metadata file", ErrCorrupt, name, len(b))
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != sum {
		return meta{}, fmt.Errorf("%w: metadata file %s: checksum mismatch", ErrCorrupt, name)
	}
	m := meta{version: binary.BigEndian.Uint32(b[len(metaMagic):])}
	switch {
	case m.version > FormatVersion:
		return meta{}, fmt.Errorf("%w: %s is format version %d, this evlog reads versions up to %d; "+
			"run a newer evlog", ErrVersion, name, m.version, FormatVersion)
	case m.version < 2:
		// Version 1 had no metadata file.
		return meta{}, fmt.Errorf("%w: metadata file %s: version %d", ErrCorrupt, name, m.version)
	case len(b) != metaSize:
		return meta{}, fmt.Errorf("%w: metadata file %s: %d bytes, want %d", ErrCorrupt, name, len(b), metaSize)
	}
	p := b[len(metaMagic)+4:]
	copy(m.id[:], p)
	m.low = binary.BigEndian.Uint64(p[16:])
	return m, nil
}

// readMeta reads the metadata file of dir. ok is false when there is none.
func readMeta(dir string) (m meta, ok bool, err error) {
	name := filepath.Join(dir, metaName)
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return meta{}, false, nil
	}
	if err != nil {
		return meta{}, false, fmt.Errorf("read metadata: %w", err)
	}
	m, err = decodeMeta(name, b)
	return m, err == nil, err
}

// newMeta is the metadata of a directory created, or upgraded, now.
func newMeta(low uint64) (meta, error) {
	m := meta{version: FormatVersion, low: low}
	if _, err := rand.Read(m.id[:]); err != nil {
		return meta{}, fmt.Errorf("create log id: %w", err)
	}
	return m, nil
}

// writeMeta replaces the metadata file of dir atomically: a temporary file
// is written and synced, renamed over the file and the directory synced,
// so that a crash leaves either the old file or the new one, whole.
func writeMeta(dir string, m meta) error {
	name := filepath.Join(dir, metaName)
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	_, err = f.Write(m.encode())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write metadata: %w", err)
	}
	return syncDir(dir)
}
