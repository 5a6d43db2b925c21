package segment

import (
	"bytes"
	"encoding/binary"
	"flag"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden segments in testdata/golden")

// goldenRecords are the records of testdata/golden, with fixed timestamps
// so that their encoding never changes.
func goldenRecords() []*messages.Record {
	return []*messages.Record{
		{Value: []byte("hello"), Timestamp: 1700000000000000000},
		{Value: []byte{}, Timestamp: 1},
		{Value: []byte("with key"), Key: []byte("k1"), Timestamp: 1700000000000000002},
		{Value: []byte("with headers"), Headers: map[string]string{"b": "2", "a": "1"}, Timestamp: -5},
		{Value: bytes.Repeat([]byte{0xff}, 40), Timestamp: 1700000000000000004},
	}
}

// TestGolden pins the on-disk format: the log writes testdata/golden byte
// for byte, and reads it back. Run with -update to rewrite it after a
// deliberate format change.
func TestGolden(t *testing.T) {
	golden := filepath.Join("testdata", "golden")
	c := quietConfig(128, 0)
	dir := t.TempDir()
	l := openLog(t, dir, c)
	want := goldenRecords()
	if _, err := l.AppendBatch(want[:2]); err != nil {
		t.Fatal(err)
	}
	for _, r := range want[2:] {
		if _, err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	closeLog(t, l)
	if *updateGolden {
		if err := os.RemoveAll(golden); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(golden, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range append(files(t, dir, storeSuffix), files(t, dir, indexSuffix)...) {
			writeFile(t, filepath.Join(golden, filepath.Base(p)), readFile(t, p))
		}
	}

	names := func(d string) []string {
		var out []string
		for _, p := range append(files(t, d, storeSuffix), files(t, d, indexSuffix)...) {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if got, want := names(dir), names(golden); !slices.Equal(got, want) {
		t.Fatalf("files %v, golden %v", got, want)
	}
	for _, name := range names(golden) {
		if !bytes.Equal(readFile(t, filepath.Join(dir, name)), readFile(t, filepath.Join(golden, name))) {
			t.Fatalf("%s differs from testdata/golden", name)
		}
	}

	// The frames and entries are as doc.go describes them.
	for _, p := range files(t, golden, storeSuffix) {
		b := readFile(t, p)
		idx := readFile(t, p[:len(p)-len(storeSuffix)]+indexSuffix)
		for i, f := range frames(t, p) {
			payload := b[f.pos+frame.HeaderSize : f.pos+f.size]
			if crc := binary.BigEndian.Uint32(b[f.pos+4:]); crc != crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)) {
				t.Fatalf("%s: frame %d has CRC %08x", p, i, crc)
			}
			e := idx[i*entryWidth:]
			if rel, pos := binary.BigEndian.Uint32(e), binary.BigEndian.Uint64(e[4:]); rel != uint32(i) || pos != uint64(f.pos) {
				t.Fatalf("%s: entry %d is (%d, %d), want (%d, %d)", p, i, rel, pos, i, f.pos)
			}
		}
	}

	// And a log opened on the golden files reads them.
	l = openLog(t, copyDir(t, golden), c)
	if r := l.Recovered(); len(r) != 0 {
		t.Fatalf("golden files recovered: %+v", r)
	}
	checkReadAll(t, l, want)
}
