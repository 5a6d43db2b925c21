package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

// fuzzSeeds returns the files of a real active segment at base: a clean
// store and its index, as kill -9 and a clean close leave it.
func fuzzSeeds(f *testing.F, base uint64) (store, grownIndex, cutIndex []byte) {
	dir := f.TempDir()
	c := quietConfig(0, 16*entryWidth)
	c.Segment.InitialOffset = base
	l, err := NewLog(dir, c)
	if err != nil {
		f.Fatal(err)
	}
	for i := range 4 {
		r := &messages.Record{Value: value(i), Key: []byte("k"), Headers: map[string]string{"h": "v"}}
		if _, err := l.Append(r); err != nil {
			f.Fatal(err)
		}
	}
	grownIndex = readFile(f, segmentName(dir, base, indexSuffix))
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	// After Close: the open store is preallocated, and its free space
	// would make a seed of megabytes of zeros.
	store = readFile(f, segmentName(dir, base, storeSuffix))
	cutIndex = readFile(f, segmentName(dir, base, indexSuffix))
	return store, grownIndex, cutIndex
}

// fuzzPrefix is the number of records in the sealed segment that comes
// before the fuzzed one when the fuzzer asks for it.
const fuzzPrefix = 3

// FuzzRecover opens a log whose active segment has fuzzed files: the store
// always (with its frames' checksums recomputed when fixCRC is set), the
// index when withIndex is set, after a sealed segment of fuzzPrefix records
// when withPrefix is set. NewLog must succeed without
// allocating far beyond the files' size, and every record the log then
// serves, by Read or ReadRaw, must decode and carry the offset it was read
// at; anything else must be ErrCorrupt. Appends then go on at NextOffset and
// a reopen agrees.
func FuzzRecover(f *testing.F) {
	prefixStore, _, prefixIndex := fuzzSeeds(f, 0)
	prefixStore = prefixStore[:frames(f, writeTemp(f, prefixStore))[fuzzPrefix].pos]
	prefixIndex = prefixIndex[:fuzzPrefix*entryWidth]

	for _, withPrefix := range []bool{false, true} {
		store, grown, cut := fuzzSeeds(f, 0)
		if withPrefix {
			store, grown, cut = fuzzSeeds(f, fuzzPrefix)
		}
		f.Add(store, cut, true, withPrefix, false)
		f.Add(store, grown, true, withPrefix, false)
		f.Add(store, []byte(nil), false, withPrefix, false)
		f.Add(store[:len(store)-3], grown, true, withPrefix, false)
		f.Add(store[:len(store)-3], cut, true, withPrefix, false)
		f.Add(append(bytes.Clone(store), make([]byte, 64)...), grown, true, withPrefix, false)
		f.Add(append(bytes.Clone(store), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0), cut, true, withPrefix, false)
		f.Add([]byte{}, grown, true, withPrefix, false)
		// An index trusted for its ends, with a middle entry that wraps.
		idx := append(bytes.Clone(cut[:entryWidth]), entryBytes(1, ^uint64(0)-3)...)
		f.Add(store, append(idx, cut[2*entryWidth:]...), true, withPrefix, false)
	}
	// Frames with a right checksum around wrong contents: a nil, an empty
	// map, a record of another offset, trailing bytes, an extension, a bin
	// claiming 4 GiB.
	for _, payload := range [][]byte{
		{0xc0},
		{0x80},
		mustMarshal(f, &messages.Record{Value: []byte("x"), Offset: 7, Timestamp: 1}),
		append(mustMarshal(f, &messages.Record{Value: []byte("x"), Timestamp: 1}), 0),
		{0xd4, 0, 0},
		{0x81, 0xa5, 'v', 'a', 'l', 'u', 'e', 0xc6, 0xff, 0xff, 0xff, 0xff},
	} {
		f.Add(frame.Append(nil, payload, false), []byte(nil), false, false, false)
		f.Add(frame.Append(nil, payload, false), entryBytes(0, 0), true, false, false)
	}
	// With checksums fixed up the fuzzer reaches the record decoder.
	store, _, cut := fuzzSeeds(f, 0)
	f.Add(store, cut, true, false, true)
	f.Add(store, []byte(nil), false, false, true)

	f.Fuzz(func(t *testing.T, store, index []byte, withIndex, withPrefix, fixCRC bool) {
		if fixCRC {
			store = fixChecksums(store)
		}
		dir := t.TempDir()
		c := quietConfig(1<<20, 64*entryWidth)
		base := uint64(0)
		if withPrefix {
			base = fuzzPrefix
			writeFile(t, segmentName(dir, 0, storeSuffix), prefixStore)
			writeFile(t, segmentName(dir, 0, indexSuffix), prefixIndex)
		}
		writeFile(t, segmentName(dir, base, storeSuffix), store)
		if withIndex {
			writeFile(t, segmentName(dir, base, indexSuffix), index)
		}

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		l, err := NewLog(dir, c)
		if err != nil {
			t.Fatalf("NewLog: %v", err)
		}
		defer l.Close()
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20+4*uint64(len(store)+len(index)) {
			t.Fatalf("NewLog allocated %d bytes for files of %d", grew, len(store)+len(index))
		}
		if rec := l.Recovered(); withPrefix && len(rec) > 0 && rec[0].BaseOffset == 0 {
			t.Fatalf("the intact sealed segment was recovered: %+v", rec)
		}

		runtime.ReadMemStats(&before)
		defer func() {
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20+64*uint64(len(store)+len(index)) {
				t.Fatalf("reading allocated %d bytes for files of %d", grew, len(store)+len(index))
			}
		}()
		lowest, err := l.LowestOffset()
		if err != nil {
			t.Fatal(err)
		}
		next := l.NextOffset()
		if lowest != 0 || next < base || next-base > uint64(len(store))/(frame.HeaderSize+frame.MinPayload) {
			t.Fatalf("log holds [%d, %d) from a store of %d bytes at base %d", lowest, next, len(store), base)
		}
		for off := lowest; off < next; off++ {
			r, err := l.Read(off)
			readOK := err == nil
			switch {
			case errors.Is(err, ErrCorrupt):
			case err != nil:
				t.Fatalf("read %d: %v, want a record or ErrCorrupt", off, err)
			case r.Offset != off:
				t.Fatalf("read %d: record of offset %d", off, r.Offset)
			case off < base && !bytes.Equal(r.Value, value(int(off))):
				t.Fatalf("read %d of the sealed segment: %+v", off, r)
			}
			// ReadRaw checks frames but does not decode them, so it may
			// serve a well-framed payload that Read refuses: one that is
			// not a record, or is another offset's. It must never serve
			// bytes that are not a whole frame with a matching checksum,
			// and must agree with Read on every record Read serves.
			raw, n, err := l.ReadRaw(off, 1, 1<<20, nil)
			switch {
			case errors.Is(err, ErrCorrupt):
				if readOK {
					t.Fatalf("read raw %d: %v, but Read serves it", off, err)
				}
			case err != nil:
				t.Fatalf("read raw %d: %v, want a record or ErrCorrupt", off, err)
			case n != 1:
				t.Fatalf("read raw %d: %d records", off, n)
			case !holdsFrame(readFile(t, segmentName(dir, base, storeSuffix)), raw) && !holdsFrame(prefixStore, raw):
				t.Fatalf("read raw %d served %q, which is no frame of the store", off, raw)
			case readOK:
				var d messages.Record
				if err := messages.Unmarshal(raw, &d); err != nil {
					t.Fatalf("read raw %d served %q: %v; Read %+v", off, raw, err, r)
				}
				checkRecord(t, &d, r)
			}
		}

		// The log goes on after whatever it kept.
		off, err := l.Append(&messages.Record{Value: []byte("after")})
		if err != nil || off != next {
			t.Fatalf("append after recovery: offset %d, %v; want %d", off, err, next)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		l, err = NewLog(dir, c)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer l.Close()
		if r := l.Recovered(); len(r) != 0 {
			t.Fatalf("second reopen recovered %+v", r)
		}
		if r, err := l.Read(next); err != nil || string(r.Value) != "after" {
			t.Fatalf("read the append after reopen: %+v, %v", r, err)
		}
	})
}

// fixChecksums returns store with the checksum of every frame that fits
// recomputed, so that the fuzzer's changes to records get past the CRC.
func fixChecksums(store []byte) []byte {
	store = bytes.Clone(store)
	for pos := 0; len(store)-pos >= frame.HeaderSize; {
		field := binary.BigEndian.Uint32(store[pos:])
		n := int(field &^ (1 << 31))
		if n > len(store)-pos-frame.HeaderSize {
			break
		}
		payload := store[pos+frame.HeaderSize : pos+frame.HeaderSize+n]
		copy(store[pos:], frame.Append(nil, payload, field>>31 == 1)[:frame.HeaderSize])
		pos += frame.HeaderSize + n
	}
	return store
}

// writeTemp writes b to a temporary file and returns its path.
func writeTemp(f *testing.F, b []byte) string {
	p := filepath.Join(f.TempDir(), "file")
	writeFile(f, p, b)
	return p
}

func mustMarshal(f testing.TB, r *messages.Record) []byte {
	b, err := messages.Marshal(r)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func entryBytes(rel uint32, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(nil, rel), pos)
}

// holdsFrame reports whether store holds the frame of payload, with or
// without the batch flag.
func holdsFrame(store, payload []byte) bool {
	return bytes.Contains(store, frame.Append(nil, payload, false)) || bytes.Contains(store, frame.Append(nil, payload, true))
}
