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

// goldenID is the log id written into testdata/golden/evlog.meta, in place
// of the random one a log gets, so that the file never changes.
var goldenID = LogID{0: 0xe5, 1: 0x10, 14: 0x9a, 15: 0x01}

// goldenLow is the low-water mark of testdata/golden: inside its first
// segment, which therefore still holds a record below it.
const goldenLow = 1

// TestGolden pins the on-disk format of version 2: the log writes
// testdata/golden byte for byte (the metadata file but for its random log
// id), including a batch whose first frame carries the batch flag, and
// reads it back. Run with -update to rewrite it after a deliberate format
// change.
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
	if err := l.TruncateFront(goldenLow); err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	if *updateGolden {
		writeGolden(t, dir, golden)
	}
	compareGolden(t, dir, golden)
	checkGoldenMeta(t, dir, golden)
	checkGoldenFrames(t, golden)

	// And a log opened on the golden files reads them.
	l = openLog(t, copyDir(t, golden), c)
	if r := l.Recovered(); len(r) != 0 {
		t.Fatalf("golden files recovered: %+v", r)
	}
	if l.ID() != goldenID {
		t.Fatalf("log id %v, want %v", l.ID(), goldenID)
	}
	checkReadAll(t, l, want[goldenLow:])
	_, err := l.Read(goldenLow - 1)
	checkOutOfRange(t, err, goldenLow-1)
}

// writeGolden replaces golden with the segments of dir and a metadata file
// holding goldenID.
func writeGolden(t *testing.T, dir, golden string) {
	t.Helper()
	if err := os.RemoveAll(golden); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(golden, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range segmentFiles(t, dir) {
		writeFile(t, filepath.Join(golden, filepath.Base(p)), readFile(t, p))
	}
	m := readMetaFile(t, dir)
	m.id = goldenID
	writeFile(t, filepath.Join(golden, metaName), m.encode())
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	return append(append(files(t, dir, storeSuffix), files(t, dir, indexSuffix)...), files(t, dir, timeIndexSuffix)...)
}

func readMetaFile(t *testing.T, dir string) meta {
	t.Helper()
	m, ok, err := readMeta(dir)
	if err != nil || !ok {
		t.Fatalf("metadata of %s: found %v, %v", dir, ok, err)
	}
	return m
}

// compareGolden checks that dir holds the segment files of golden, byte
// for byte.
func compareGolden(t *testing.T, dir, golden string) {
	t.Helper()
	names := func(d string) []string {
		var out []string
		for _, p := range segmentFiles(t, d) {
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
}

// checkGoldenMeta checks the metadata files of dir and golden against the
// layout doc.go gives: magic, version, log id, low-water mark, CRC-32C.
func checkGoldenMeta(t *testing.T, dir, golden string) {
	t.Helper()
	got, want := readMetaFile(t, dir), meta{version: FormatVersion, id: got0(t, dir), low: goldenLow}
	if got != want {
		t.Fatalf("metadata %+v, want %+v", got, want)
	}
	b := readFile(t, filepath.Join(golden, metaName))
	if len(b) != 40 || string(b[:8]) != "EVLOGMD\n" || binary.BigEndian.Uint32(b[8:]) != 2 ||
		!bytes.Equal(b[12:28], goldenID[:]) || binary.BigEndian.Uint64(b[28:]) != goldenLow ||
		binary.BigEndian.Uint32(b[36:]) != crc32.Checksum(b[:36], crc32.MakeTable(crc32.Castagnoli)) {
		t.Fatalf("golden metadata file % x is not as doc.go describes it", b)
	}
}

// got0 is the log id in dir's metadata file, which is random.
func got0(t *testing.T, dir string) LogID {
	t.Helper()
	id := readMetaFile(t, dir).id
	if id == (LogID{}) {
		t.Fatal("log id is all zeros")
	}
	return id
}

// checkGoldenFrames checks the frames and entries of golden against the
// layout doc.go gives, the batch flag on every frame of a batch but its
// last.
func checkGoldenFrames(t *testing.T, golden string) {
	t.Helper()
	table := crc32.MakeTable(crc32.Castagnoli)
	flagged := 0
	for _, p := range files(t, golden, storeSuffix) {
		b := readFile(t, p)
		idx := readFile(t, p[:len(p)-len(storeSuffix)]+indexSuffix)
		for i, f := range frames(t, p) {
			payload := b[f.pos+frame.HeaderSize : f.pos+f.size]
			field := binary.BigEndian.Uint32(b[f.pos:])
			wantCRC := crc32.Checksum(payload, table)
			if field>>31 == 1 {
				flagged++
				wantCRC = crc32.Update(wantCRC, table, b[f.pos:f.pos+4])
			}
			if crc := binary.BigEndian.Uint32(b[f.pos+4:]); crc != wantCRC {
				t.Fatalf("%s: frame %d has CRC %08x, want %08x", p, i, crc, wantCRC)
			}
			e := idx[i*entryWidth:]
			if rel, pos := binary.BigEndian.Uint32(e), binary.BigEndian.Uint64(e[4:]); rel != uint32(i) || pos != uint64(f.pos) {
				t.Fatalf("%s: entry %d is (%d, %d), want (%d, %d)", p, i, rel, pos, i, f.pos)
			}
		}
	}
	checkGoldenTimes(t, golden)
	// The batch of two records: its first frame carries the flag.
	if first := readFile(t, files(t, golden, storeSuffix)[0]); flagged != 1 || first[0]>>7 != 1 {
		t.Fatalf("%d flagged frames, want 1, the first", flagged)
	}
}

// TestGoldenVersion1 opens a copy of testdata/golden-v1, a directory of
// format version 1 (no metadata file, no batch flags), which the log
// upgrades in place: it writes the metadata file and rewrites no segment.
func TestGoldenVersion1(t *testing.T) {
	v1 := filepath.Join("testdata", "golden-v1")
	dir := copyDir(t, v1)
	l := openLog(t, dir, quietConfig(128, 0))
	if r := l.Recovered(); len(r) != 0 {
		t.Fatalf("version 1 files recovered: %+v", r)
	}
	want := goldenRecords()
	for i, r := range want {
		r.Offset = uint64(i)
	}
	checkReadAll(t, l, want)
	closeLog(t, l)
	// The upgrade built a time index for every sealed segment, and
	// changed nothing else.
	times := files(t, dir, timeIndexSuffix)
	if len(times) != len(files(t, dir, storeSuffix))-1 {
		t.Fatalf("time indexes %v after the upgrade, want one a sealed segment", times)
	}
	for _, p := range times {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	compareGolden(t, dir, v1)
	if m := readMetaFile(t, dir); m.version != FormatVersion || m.low != 0 || m.id == (LogID{}) {
		t.Fatalf("metadata after the upgrade: %+v", m)
	}
	// The upgrade happens once: the id stays.
	id := readMetaFile(t, dir).id
	l = openLog(t, dir, quietConfig(128, 0))
	if l.ID() != id {
		t.Fatalf("log id %v after reopen, was %v", l.ID(), id)
	}
}

// checkGoldenTimes checks the time index files of golden, one a sealed
// segment, against the layout doc.go gives: an entry (relative offset
// uint32, timestamp int64) for each segment's first record, as its
// segments hold fewer than 64, then the records covered (uint64) and a
// CRC-32C of all before it.
func checkGoldenTimes(t *testing.T, golden string) {
	t.Helper()
	table := crc32.MakeTable(crc32.Castagnoli)
	stores := files(t, golden, storeSuffix)
	times := files(t, golden, timeIndexSuffix)
	if len(times) != len(stores)-1 {
		t.Fatalf("%d time indexes for %d stores, want one a sealed segment", len(times), len(stores))
	}
	for i, p := range times {
		b := readFile(t, p)
		fr := frames(t, stores[i])
		if len(b) != 12+12 || binary.BigEndian.Uint32(b) != 0 ||
			binary.BigEndian.Uint64(b[12:]) != uint64(len(fr)) ||
			binary.BigEndian.Uint32(b[20:]) != crc32.Checksum(b[:20], table) {
			t.Fatalf("%s: % x is not as doc.go describes it", p, b)
		}
		var r messages.Record
		st := readFile(t, stores[i])
		if err := messages.UnmarshalRecord(st[frame.HeaderSize:fr[0].size], &r); err != nil {
			t.Fatal(err)
		}
		if ts := int64(binary.BigEndian.Uint64(b[4:])); ts != r.Timestamp {
			t.Fatalf("%s: first entry's timestamp %d, the record's %d", p, ts, r.Timestamp)
		}
	}
}
