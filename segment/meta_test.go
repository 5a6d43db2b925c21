package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMetaCreated: a new directory gets a metadata file of the current
// version whose log id stays the same across reopens.
func TestMetaCreated(t *testing.T) {
	dir := t.TempDir()
	c := quietConfig(0, 0)
	l := openLog(t, dir, c)
	id := l.ID()
	if id == (LogID{}) {
		t.Fatal("zero log id")
	}
	closeLog(t, l)
	if m := readMetaFile(t, dir); m.version != FormatVersion || m.id != id || m.low != 0 {
		t.Fatalf("metadata %+v, want version %d, id %v, low 0", m, FormatVersion, id)
	}
	l = openLog(t, dir, c)
	if l.ID() != id {
		t.Fatalf("id %v after reopen, was %v", l.ID(), id)
	}
	if other := openLog(t, t.TempDir(), c); other.ID() == id {
		t.Fatal("two logs share an id")
	}
}

// TestMetaDamaged: a damaged metadata file is refused by NewLog and Check
// with ErrCorrupt naming it, and left as it is: the log id and the
// low-water mark cannot be made up again.
func TestMetaDamaged(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"empty", func([]byte) []byte { return nil }},
		{"cut", func(b []byte) []byte { return b[:len(b)-1] }},
		{"flipped low-water bit", func(b []byte) []byte { b[35] ^= 1; return b }},
		{"flipped id bit", func(b []byte) []byte { b[12] ^= 0x10; return b }},
		{"flipped checksum bit", func(b []byte) []byte { b[39] ^= 1; return b }},
		{"wrong magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"one byte more", func(b []byte) []byte { return append(b, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, quietConfig(0, 0))
			appendN(t, l, 3)
			closeLog(t, l)
			path := filepath.Join(dir, metaName)
			damaged := tt.damage(readFile(t, path))
			writeFile(t, path, damaged)
			_, err := NewLog(dir, quietConfig(0, 0))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("NewLog: %v, want ErrCorrupt naming %s", err, path)
			}
			if _, err := Check(dir, CheckOptions{Repair: true}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Check: %v, want ErrCorrupt naming %s", err, path)
			}
			if !bytes.Equal(readFile(t, path), damaged) {
				t.Fatal("damaged metadata file rewritten")
			}
		})
	}
}

// TestMetaNewerVersion: a directory of a newer format is refused with
// ErrVersion naming both versions, not taken for damage.
func TestMetaNewerVersion(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, quietConfig(0, 0))
	closeLog(t, l)
	m := readMetaFile(t, dir)
	m.version = FormatVersion + 1
	writeFile(t, filepath.Join(dir, metaName), m.encode())
	for name, err := range map[string]error{
		"NewLog": func() error { _, err := NewLog(dir, quietConfig(0, 0)); return err }(),
		"Check":  func() error { _, err := Check(dir, CheckOptions{}); return err }(),
	} {
		if !errors.Is(err, ErrVersion) || errors.Is(err, ErrCorrupt) ||
			!strings.Contains(err.Error(), "version 3") || !strings.Contains(err.Error(), "up to 2") {
			t.Fatalf("%s: %v, want ErrVersion naming versions 3 and 2", name, err)
		}
	}
}

// TestMetaUpgrade: a directory without a metadata file, as version 1 left
// it, opens as it is and gets one, with the low-water mark at its first
// segment; Check calls it version 1 before and version 2 after.
func TestMetaUpgrade(t *testing.T) {
	fs := uint64(frameSize(t, value(0), 0))
	c := quietConfig(3*fs, 0)
	dir := t.TempDir()
	l := openLog(t, dir, c)
	want := appendN(t, l, 7)
	if err := l.TruncateFront(3); err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	if err := os.Remove(filepath.Join(dir, metaName)); err != nil {
		t.Fatal(err)
	}
	stores := storeBytes(t, dir)
	rep, err := Check(dir, CheckOptions{})
	if err != nil || rep.Version != 1 || rep.LogID != "" || len(rep.Notes) != 1 || !rep.OK() {
		t.Fatalf("check of version 1: %+v, %v", rep, err)
	}
	l = openLog(t, dir, c)
	if lo, _ := l.LowestOffset(); lo != 3 {
		t.Fatalf("lowest %d after upgrade, want 3", lo)
	}
	checkReadAll(t, l, want[3:])
	closeLog(t, l)
	if !bytes.Equal(storeBytes(t, dir), stores) {
		t.Fatal("the upgrade rewrote a store")
	}
	if m := readMetaFile(t, dir); m.version != FormatVersion || m.low != 3 {
		t.Fatalf("metadata after upgrade: %+v", m)
	}
	rep, err = Check(dir, CheckOptions{})
	if err != nil || rep.Version != FormatVersion || len(rep.LogID) != 32 || rep.LowestOffset != 3 {
		t.Fatalf("check after upgrade: %+v, %v", rep, err)
	}
}

// TestMetaLowWaterBeyondEnd: a mark past the log's end means records are
// missing; the log refuses to open rather than hand out offsets below it.
func TestMetaLowWaterBeyondEnd(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, quietConfig(0, 0))
	appendN(t, l, 3)
	closeLog(t, l)
	m := readMetaFile(t, dir)
	m.low = 5
	writeFile(t, filepath.Join(dir, metaName), m.encode())
	if _, err := NewLog(dir, quietConfig(0, 0)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "low-water mark 5") {
		t.Fatalf("NewLog: %v, want ErrCorrupt naming the mark", err)
	}
	rep, err := Check(dir, CheckOptions{})
	if err != nil || rep.OK() {
		t.Fatalf("check: %+v, %v; want damage", rep, err)
	}
}

// TestMetaLayout pins the encoding of the metadata file field by field.
func TestMetaLayout(t *testing.T) {
	m := meta{version: 2, id: LogID{1, 2, 3}, low: 0x0102030405060708}
	b := m.encode()
	if len(b) != metaSize || string(b[:8]) != metaMagic || binary.BigEndian.Uint32(b[8:]) != 2 ||
		b[12] != 1 || b[14] != 3 || binary.BigEndian.Uint64(b[28:]) != m.low {
		t.Fatalf("encoding % x", b)
	}
	got, err := decodeMeta("x", b)
	if err != nil || got != m {
		t.Fatalf("decode: %+v, %v", got, err)
	}
}
