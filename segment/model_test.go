package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

// logModel is what a Log should hold: the records in [lowest, next).
type logModel struct {
	lowest, next uint64
	records      map[uint64]*messages.Record
	// truncated is the next offset when TruncateFront last raised the
	// mark: it synced every record below, which no crash can tear.
	truncated uint64
}

// logMachine drives a Log and its model through the same operations.
type logMachine struct {
	base   string // where the machine makes its directories
	dir    string
	config Config
	log    *Log
	m      logModel
}

func (s *logMachine) open(t *rapid.T) {
	l, err := NewLog(s.dir, s.config)
	if err != nil {
		t.Fatalf("NewLog: %v", err)
	}
	s.log = l
}

var valueGen = rapid.SliceOfN(rapid.Byte(), 0, 40)

func (s *logMachine) append(t *rapid.T) {
	r := &messages.Record{Value: valueGen.Draw(t, "value")}
	off, err := s.log.Append(r)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if off != s.m.next {
		t.Fatalf("append got offset %d, want %d", off, s.m.next)
	}
	s.m.records[off] = r
	s.m.next++
}

func (s *logMachine) appendBatch(t *rapid.T) {
	values := rapid.SliceOfN(valueGen, 1, 5).Draw(t, "values")
	batch := make([]*messages.Record, len(values))
	for i, v := range values {
		batch[i] = &messages.Record{Value: v}
	}
	first, err := s.log.AppendBatch(batch)
	if err != nil {
		t.Fatalf("append batch: %v", err)
	}
	if first != s.m.next {
		t.Fatalf("batch starts at %d, want %d", first, s.m.next)
	}
	for _, r := range batch {
		s.m.records[s.m.next] = r
		s.m.next++
	}
}

func (s *logMachine) appendTooLarge(t *rapid.T) {
	big := make([]byte, s.config.Segment.MaxStoreBytes)
	batch := []*messages.Record{{Value: []byte("ok")}, {Value: big}}
	if rapid.Bool().Draw(t, "alone") {
		batch = batch[1:]
	}
	if _, err := s.log.AppendBatch(batch); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("append of %d bytes: %v, want ErrRecordTooLarge", len(big), err)
	}
}

// offsetGen draws offsets in and around [lowest, next).
func (s *logMachine) offsetGen() *rapid.Generator[uint64] {
	return rapid.Uint64Range(s.m.lowest-min(s.m.lowest, 2), s.m.next+2)
}

func (s *logMachine) read(t *rapid.T) {
	off := s.offsetGen().Draw(t, "offset")
	got, err := s.log.Read(off)
	want, ok := s.m.records[off]
	switch {
	case !ok && !errors.Is(err, ErrOffsetOutOfRange):
		t.Fatalf("read %d outside [%d, %d): %v, %+v", off, s.m.lowest, s.m.next, err, got)
	case !ok:
	case err != nil:
		t.Fatalf("read %d: %v", off, err)
	case got.Offset != off || got.Timestamp != want.Timestamp || !bytes.Equal(got.Value, want.Value):
		t.Fatalf("read %d: got %+v, want %+v", off, got, want)
	}
}

func (s *logMachine) readRaw(t *rapid.T) {
	if s.m.lowest == s.m.next {
		t.Skip("empty")
	}
	off := rapid.Uint64Range(s.m.lowest, s.m.next-1).Draw(t, "offset")
	maxRecords := rapid.IntRange(1, 10).Draw(t, "maxRecords")
	raw, n, err := s.log.ReadRaw(off, maxRecords, 1<<20, nil)
	if err != nil || n < 1 || n > maxRecords {
		t.Fatalf("read raw %d: %d records, %v", off, n, err)
	}
	var want []byte
	for i := range uint64(n) {
		b, err := messages.Marshal(s.m.records[off+i])
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
	}
	if !bytes.Equal(raw, want) {
		t.Fatalf("read raw %d: %d records differ from the model", off, n)
	}
}

func (s *logMachine) truncate(t *rapid.T) {
	lowest := rapid.Uint64Range(s.m.lowest, s.m.next+2).Draw(t, "lowest")
	err := s.log.TruncateFront(lowest)
	if lowest > s.m.next {
		if !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("truncate %d beyond %d: %v", lowest, s.m.next, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("truncate %d: %v", lowest, err)
	}
	got, err := s.log.LowestOffset()
	if err != nil {
		t.Fatal(err)
	}
	// The low-water mark is exactly the asked offset, whatever segments
	// remain.
	if got != lowest {
		t.Fatalf("truncate %d: lowest %d, was %d, next %d", lowest, got, s.m.lowest, s.m.next)
	}
	for off := s.m.lowest; off < got; off++ {
		delete(s.m.records, off)
	}
	if got > s.m.lowest {
		s.m.truncated = s.m.next
	}
	s.m.lowest = got
}

// restart closes and reopens the log, or crashes it. Both sync files, so
// they share one action to keep the test quick.
func (s *logMachine) restart(t *rapid.T) {
	if rapid.Bool().Draw(t, "crash") {
		s.crash(t)
		return
	}
	if err := s.log.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s.open(t)
	if r := s.log.Recovered(); len(r) != 0 {
		t.Fatalf("clean reopen recovered %+v", r)
	}
}

// crash reopens a copy of the files taken while the log was open, as
// kill -9 would leave them, optionally with the last record torn.
func (s *logMachine) crash(t *rapid.T) {
	dir, err := os.MkdirTemp(s.base, "crash")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	var active string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if filepath.Ext(e.Name()) == storeSuffix {
			active = filepath.Join(dir, e.Name()) // the last one, as ReadDir sorts
		}
	}
	if err := s.log.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	os.RemoveAll(s.dir)
	s.dir = dir

	// Where the frames end: the open store is preallocated past them.
	size := int64(framesEnd(t, active))
	// A crash leaves nothing to recover only when the active segment is
	// exactly as a clean close leaves it: its store full to the last
	// byte (no free space) and its index full to the last entry (cut to
	// its entries). Recovery then trusts the index and reports nothing.
	clean := fileSize(t, active) == size &&
		fileSize(t, strings.TrimSuffix(active, storeSuffix)+indexSuffix) == int64(len(frames(t, active)))*entryWidth
	var batch int
	if size > 0 {
		batch = lastBatch(t, active)
	}
	tear := size > 0 && s.m.next-uint64(batch) >= s.m.truncated && rapid.Bool().Draw(t, "tear")
	if tear {
		last := s.m.records[s.m.next-1]
		b, err := messages.Marshal(last)
		if err != nil {
			t.Fatal(err)
		}
		keep := rapid.IntRange(0, frame.HeaderSize+len(b)-1).Draw(t, "keep")
		if err := os.Truncate(active, size-int64(frame.HeaderSize+len(b)-keep)); err != nil {
			t.Fatal(err)
		}
		// The torn record's whole batch goes: recovery cuts a batch
		// whose last record is missing.
		for range batch {
			delete(s.m.records, s.m.next-1)
			s.m.next--
		}
	}
	s.open(t)
	if len(s.log.Recovered()) == 0 && (tear || size > 0 && !clean) {
		t.Fatal("recovery not reported")
	}
}

func (s *logMachine) check(t *rapid.T) {
	lo, err := s.log.LowestOffset()
	if err != nil || lo != s.m.lowest {
		t.Fatalf("lowest %d, %v; model %d", lo, err, s.m.lowest)
	}
	if n := s.log.NextOffset(); n != s.m.next {
		t.Fatalf("next %d, model %d", n, s.m.next)
	}
	hi, err := s.log.HighestOffset()
	switch {
	case s.m.lowest == s.m.next && !errors.Is(err, ErrEmpty):
		t.Fatalf("highest of an empty log: %d, %v", hi, err)
	case s.m.lowest < s.m.next && (err != nil || hi != s.m.next-1):
		t.Fatalf("highest %d, %v; model %d", hi, err, s.m.next-1)
	}
	var size uint64
	stores, err := filepath.Glob(filepath.Join(s.dir, "*"+storeSuffix))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range stores {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(st.Size()) > s.config.Segment.MaxStoreBytes {
			t.Fatalf("%s: %d bytes, over %d", p, st.Size(), s.config.Segment.MaxStoreBytes)
		}
		size += uint64(framesEnd(t, p))
	}
	if st := s.log.Stats(); st.Bytes != size || st.LowestOffset != s.m.lowest || st.NextOffset != s.m.next {
		t.Fatalf("stats %+v, files hold %d bytes", st, size)
	}
}

// modelChecks is how many random sequences TestModel tries unless
// -rapid.checks or RAPID_CHECKS says otherwise. Every sequence syncs files
// at each roll and restart, so rapid's default of 100 makes the package's
// tests slow on a busy disk.
const modelChecks = 50

// TestModel runs random sequences of appends, reads, truncations, reopens
// and crashes against a log with tiny segments and checks it against a
// map of the records it should hold.
func TestModel(t *testing.T) {
	set := os.Getenv("RAPID_CHECKS") != ""
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if f := flag.Lookup("rapid.checks"); f != nil && !set {
		old := f.Value.String()
		if err := f.Value.Set(strconv.Itoa(modelChecks)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Value.Set(old) })
	}
	base := t.TempDir()
	rapid.Check(t, func(t *rapid.T) {
		dir, err := os.MkdirTemp(base, "log")
		if err != nil {
			t.Fatal(err)
		}
		s := &logMachine{base: base, dir: dir, config: quietConfig(
			rapid.Uint64Range(200, 1000).Draw(t, "maxStoreBytes"),
			rapid.Uint64Range(1, 12).Draw(t, "maxIndexEntries")*entryWidth,
		)}
		s.config.Segment.InitialOffset = rapid.SampledFrom([]uint64{0, 1, 127, 128, 65535, 1 << 32}).Draw(t, "initialOffset")
		s.m = logModel{lowest: s.config.Segment.InitialOffset, next: s.config.Segment.InitialOffset, records: map[uint64]*messages.Record{}}
		s.open(t)
		t.Cleanup(func() {
			s.log.Close()
			os.RemoveAll(s.dir)
		})
		t.Repeat(map[string]func(*rapid.T){
			"append":         s.append,
			"appendBatch":    s.appendBatch,
			"appendTooLarge": s.appendTooLarge,
			"read":           s.read,
			"readRaw":        s.readRaw,
			"truncate":       s.truncate,
			"restart":        s.restart,
			"":               s.check,
		})
	})
}

// lastBatch reads the frame headers of the store at path and returns how
// many frames its last batch holds: the last frame and the flagged frames
// right before it.
func lastBatch(t *rapid.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var flags []bool
	for pos := 0; pos+frame.HeaderSize <= len(b) && nonZeroLen(b[pos:]) > 0; {
		flags = append(flags, frame.More(b[pos:]))
		pos += frame.HeaderSize + int(binary.BigEndian.Uint32(b[pos:])&^(1<<31))
	}
	n := 1
	for i := len(flags) - 2; i >= 0 && flags[i]; i-- {
		n++
	}
	return n
}

// fileSize is the size of the file at path.
func fileSize(t fataler, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return st.Size()
}
