package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

// TestMain fails the package if any test leaves a goroutine behind, such as
// an interval syncer that Close did not stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// quietConfig is testConfig without syncing, for tests that are not about
// durability: fdatasync would only make them slow.
func quietConfig(storeBytes, indexBytes uint64) Config {
	c := testConfig(storeBytes, indexBytes)
	c.Sync.Mode = SyncNever
	return c
}

// appendValues appends one record a value, checks that the offsets follow
// on from NextOffset, and returns the records as the log completed them
// (Offset and Timestamp set).
func appendValues(t testing.TB, l *Log, values ...[]byte) []*messages.Record {
	t.Helper()
	next := l.NextOffset()
	recs := make([]*messages.Record, len(values))
	for i, v := range values {
		recs[i] = &messages.Record{Value: v}
		off, err := l.Append(recs[i])
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if off != next+uint64(i) || recs[i].Offset != off {
			t.Fatalf("append %d: got offset %d (record says %d), want %d", i, off, recs[i].Offset, next+uint64(i))
		}
	}
	return recs
}

// appendN appends n records whose values are value(offset).
func appendN(t testing.TB, l *Log, n int) []*messages.Record {
	t.Helper()
	next := l.NextOffset()
	values := make([][]byte, n)
	for i := range values {
		values[i] = value(int(next) + i)
	}
	return appendValues(t, l, values...)
}

// checkRecord fails unless got is want, field by field.
func checkRecord(t testing.TB, got, want *messages.Record) {
	t.Helper()
	if got.Offset != want.Offset || got.Timestamp != want.Timestamp || !bytes.Equal(got.Value, want.Value) ||
		!bytes.Equal(got.Key, want.Key) || len(got.Headers) != len(want.Headers) {
		t.Fatalf("record %d: got %+v, want %+v", want.Offset, got, want)
	}
	for k, v := range want.Headers {
		if got.Headers[k] != v {
			t.Fatalf("record %d: header %q is %q, want %q", want.Offset, k, got.Headers[k], v)
		}
	}
}

// checkReadAll reads every record of want back and compares it.
func checkReadAll(t testing.TB, l *Log, want []*messages.Record) {
	t.Helper()
	for _, w := range want {
		got, err := l.Read(w.Offset)
		if err != nil {
			t.Fatalf("read %d: %v", w.Offset, err)
		}
		checkRecord(t, got, w)
	}
}

// checkOutOfRange fails unless err is ErrOffsetOutOfRange naming offset.
func checkOutOfRange(t testing.TB, err error, offset uint64) {
	t.Helper()
	if !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("offset %d: got %v, want ErrOffsetOutOfRange", offset, err)
	}
	if !strings.Contains(err.Error(), strconv.FormatUint(offset, 10)) {
		t.Fatalf("offset %d: error %q does not name the offset", offset, err)
	}
}

// files returns the sorted paths in dir ending with suffix.
func files(t testing.TB, dir, suffix string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	return paths
}

// bases returns the base offsets of the segments in dir, from their names.
func bases(t testing.TB, dir string) []uint64 {
	t.Helper()
	var out []uint64
	for _, p := range files(t, dir, storeSuffix) {
		b, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(p), storeSuffix), 10, 64)
		if err != nil {
			t.Fatalf("store %s: %v", p, err)
		}
		out = append(out, b)
	}
	return out
}

// copyDir copies the files of src into a new temporary directory, as a
// crash would leave them if src belongs to an open log: the active index
// still grown to its capacity, nothing cut.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// framePos is the position and size of one frame in a store.
type framePos struct{ pos, size int }

// frames parses the frames of a store file by their length fields.
func frames(t fataler, path string) []framePos {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	var out []framePos
	for pos := 0; pos < len(b); {
		if nonZeroLen(b[pos:]) == 0 {
			break // the free space of a preallocated store
		}
		if len(b)-pos < frame.HeaderSize {
			t.Fatalf("%s: torn header at %d", path, pos)
		}
		size := frame.HeaderSize + int(binary.BigEndian.Uint32(b[pos:])&^(1<<31)) // without the batch flag
		if size > len(b)-pos {
			t.Fatalf("%s: torn frame at %d", path, pos)
		}
		out = append(out, framePos{pos, size})
		pos += size
	}
	return out
}

// frameSize is the size of the frame of value v at offset off with a
// present-day timestamp.
func frameSize(t testing.TB, v []byte, off uint64) int {
	t.Helper()
	b, err := messages.Marshal(&messages.Record{Value: v, Offset: off, Timestamp: 1 << 60})
	if err != nil {
		t.Fatal(err)
	}
	return frame.HeaderSize + len(b)
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nonZeroLen is the length of b without its trailing zeros.
func nonZeroLen(b []byte) int {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return n
}

// checkStoreFile checks that the store at path holds want and, after it,
// only zeros: the free space that an active store is preallocated with.
func checkStoreFile(t testing.TB, path string, want []byte) {
	t.Helper()
	got := readFile(t, path)
	if len(got) < len(want) || !bytes.Equal(got[:len(want)], want) || nonZeroLen(got[len(want):]) != 0 {
		t.Fatalf("store %s is %d bytes (%d before its zeros), want the %d of its frames and free space",
			path, len(got), nonZeroLen(got), len(want))
	}
}

// liveStoreBytes is every store of dir concatenated in order, each up to
// the end of its last frame, without the free space of a preallocated
// active store: for the files of an open log.
func liveStoreBytes(t testing.TB, dir string) []byte {
	t.Helper()
	var all []byte
	for _, p := range files(t, dir, storeSuffix) {
		all = append(all, readFile(t, p)[:framesEnd(t, p)]...)
	}
	return all
}

// fataler is what frames needs of a test: testing.TB or rapid's T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// framesEnd is where the last frame of the store at path ends.
func framesEnd(t fataler, path string) int {
	t.Helper()
	fr := frames(t, path)
	if len(fr) == 0 {
		return 0
	}
	return fr[len(fr)-1].pos + fr[len(fr)-1].size
}

// storeBytes is every store of dir concatenated in order.
func storeBytes(t testing.TB, dir string) []byte {
	t.Helper()
	var all []byte
	for _, p := range files(t, dir, storeSuffix) {
		all = append(all, readFile(t, p)...)
	}
	return all
}

func readerBytes(t testing.TB, l *Log) []byte {
	t.Helper()
	b, err := io.ReadAll(l.Reader())
	if err != nil {
		t.Fatalf("read all: %v", err)
	}
	return b
}

// closeLog closes l and fails the test on error.
func closeLog(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// appendable returns n fresh records with distinct values, for AppendBatch.
func appendable(n int) []*messages.Record {
	recs := make([]*messages.Record, n)
	for i := range recs {
		recs[i] = &messages.Record{Value: value(i)}
	}
	return recs
}
