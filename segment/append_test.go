package segment

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/evlog/evlog/messages"
)

func TestAppendReadFields(t *testing.T) {
	tests := []struct {
		name string
		rec  messages.Record
	}{
		{"value only", messages.Record{Value: []byte("v")}},
		{"empty value", messages.Record{}},
		{"key and headers", messages.Record{Value: []byte("v"), Key: []byte("k"), Headers: map[string]string{"a": "1", "b": ""}}},
		{"caller timestamp kept", messages.Record{Value: []byte("v"), Timestamp: 42}},
		{"negative timestamp kept", messages.Record{Value: []byte("v"), Timestamp: -7}},
		{"binary value", messages.Record{Value: []byte{0, 0xff, 0xc1, 0x80, 0}}},
		{"large value", messages.Record{Value: bytes.Repeat([]byte{0xa5}, 70_000)}},
	}
	l := openLog(t, t.TempDir(), quietConfig(1<<20, 0))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rec
			ts := r.Timestamp
			off, err := l.Append(&r)
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			if r.Offset != off {
				t.Fatalf("record offset %d, Append returned %d", r.Offset, off)
			}
			if ts != 0 && r.Timestamp != ts || ts == 0 && r.Timestamp == 0 {
				t.Fatalf("timestamp %d, given %d", r.Timestamp, ts)
			}
			got, err := l.Read(off)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			checkRecord(t, got, &r)
		})
	}
}

func TestAppendBatch(t *testing.T) {
	fs := uint64(frameSize(t, value(0), 0))
	tests := []struct {
		name string
		// store and index limits, in frames and entries
		storeFrames, entries uint64
		before, batch        int
		// wantBases are the segment bases after the batch
		wantBases []uint64
	}{
		{"fits the active segment", 4, 100, 1, 2, []uint64{0}},
		{"store full: batch goes whole to a new segment", 4, 100, 2, 3, []uint64{0, 2}},
		{"index full: batch goes whole to a new segment", 100, 4, 2, 3, []uint64{0, 2}},
		{"exactly fills the active segment", 4, 100, 1, 3, []uint64{0}},
		{"larger than a segment: split, filling the active one first", 3, 100, 1, 7, []uint64{0, 3, 6}},
		{"larger than an index: split", 100, 3, 0, 7, []uint64{0, 3, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, quietConfig(tt.storeFrames*fs, tt.entries*entryWidth))
			want := appendN(t, l, tt.before)
			batch := make([]*messages.Record, tt.batch)
			for i := range batch {
				batch[i] = &messages.Record{Value: value(tt.before + i)}
			}
			first, err := l.AppendBatch(batch)
			if err != nil {
				t.Fatalf("append batch: %v", err)
			}
			if first != uint64(tt.before) {
				t.Fatalf("batch starts at %d, want %d", first, tt.before)
			}
			for i, r := range batch {
				if r.Offset != first+uint64(i) || r.Timestamp == 0 {
					t.Fatalf("batch record %d: offset %d timestamp %d", i, r.Offset, r.Timestamp)
				}
			}
			want = append(want, batch...)
			checkReadAll(t, l, want)
			if got := bases(t, dir); !slices.Equal(got, tt.wantBases) {
				t.Fatalf("segment bases %v, want %v", got, tt.wantBases)
			}
			for _, p := range files(t, dir, storeSuffix) {
				if fi, _ := os.Stat(p); uint64(fi.Size()) > tt.storeFrames*fs {
					t.Fatalf("%s holds %d bytes, more than %d", p, fi.Size(), tt.storeFrames*fs)
				}
			}
		})
	}
}

func TestAppendBatchEmpty(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig(0, 0))
	if _, err := l.AppendBatch(nil); err == nil {
		t.Fatal("empty batch appended")
	}
	if n := l.NextOffset(); n != 0 {
		t.Fatalf("next offset %d after an empty batch", n)
	}
}

func TestReadOutOfRange(t *testing.T) {
	c := quietConfig(0, 0)
	c.Segment.InitialOffset = 1000
	l := openLog(t, t.TempDir(), c)
	appendN(t, l, 5) // 1000..1004
	tests := []struct {
		name   string
		offset uint64
	}{
		{"zero", 0},
		{"just below the lowest", 999},
		{"next offset", 1005},
		{"far beyond", 123456789},
		{"max uint64", ^uint64(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.Read(tt.offset)
			checkOutOfRange(t, err, tt.offset)
			_, _, err = l.ReadRaw(tt.offset, 10, 1<<20, nil)
			checkOutOfRange(t, err, tt.offset)
		})
	}
}

func TestEmptyLog(t *testing.T) {
	tests := []struct {
		name    string
		initial uint64
	}{
		{"from zero", 0},
		{"from an initial offset", 77},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := quietConfig(0, 0)
			c.Segment.InitialOffset = tt.initial
			l := openLog(t, t.TempDir(), c)
			if lo, err := l.LowestOffset(); err != nil || lo != tt.initial {
				t.Fatalf("lowest %d, %v; want %d", lo, err, tt.initial)
			}
			if _, err := l.HighestOffset(); !errors.Is(err, ErrEmpty) {
				t.Fatalf("highest on an empty log: %v, want ErrEmpty", err)
			}
			if n := l.NextOffset(); n != tt.initial {
				t.Fatalf("next %d, want %d", n, tt.initial)
			}
			_, err := l.Read(tt.initial)
			checkOutOfRange(t, err, tt.initial)
			if b := readerBytes(t, l); len(b) != 0 {
				t.Fatalf("reader of an empty log gave %d bytes", len(b))
			}
			if st := l.Stats(); st != (Stats{Segments: 1, LowestOffset: tt.initial, NextOffset: tt.initial}) {
				t.Fatalf("stats %+v", st)
			}
			appendN(t, l, 1)
			if hi, err := l.HighestOffset(); err != nil || hi != tt.initial {
				t.Fatalf("highest %d, %v; want %d", hi, err, tt.initial)
			}
		})
	}
}

func TestInitialOffset(t *testing.T) {
	dir := t.TempDir()
	c := quietConfig(0, 0)
	c.Segment.InitialOffset = 1 << 40
	l := openLog(t, dir, c)
	want := appendN(t, l, 3)
	if want[0].Offset != 1<<40 {
		t.Fatalf("first offset %d, want %d", want[0].Offset, uint64(1<<40))
	}
	closeLog(t, l)

	tests := []struct {
		name    string
		initial uint64
	}{
		{"lower", 5},
		{"higher", 1 << 50},
		{"zero", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Segment.InitialOffset = tt.initial
			l := openLog(t, dir, c)
			if lo, _ := l.LowestOffset(); lo != 1<<40 {
				t.Fatalf("lowest %d after reopen with initial offset %d", lo, tt.initial)
			}
			if n := l.NextOffset(); n != 1<<40+3 {
				t.Fatalf("next %d after reopen with initial offset %d", n, tt.initial)
			}
			checkReadAll(t, l, want)
			closeLog(t, l)
		})
	}
}

func TestRollOnStoreBytes(t *testing.T) {
	fs := uint64(frameSize(t, value(0), 0))
	tests := []struct {
		name       string
		maxStore   uint64
		perSegment int
	}{
		{"room for exactly three", 3 * fs, 3},
		{"one byte short of three", 3*fs - 1, 2},
		{"one byte over three", 3*fs + 1, 3},
		{"room for exactly one", fs, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, quietConfig(tt.maxStore, 1000*entryWidth))
			want := appendN(t, l, 10)
			var wantBases []uint64
			for b := 0; b < 10; b += tt.perSegment {
				wantBases = append(wantBases, uint64(b))
			}
			if got := bases(t, dir); !slices.Equal(got, wantBases) {
				t.Fatalf("bases %v, want %v", got, wantBases)
			}
			for _, p := range files(t, dir, storeSuffix) {
				if fi, _ := os.Stat(p); uint64(fi.Size()) > tt.maxStore {
					t.Fatalf("%s: %d bytes, limit %d", p, fi.Size(), tt.maxStore)
				}
			}
			checkReadAll(t, l, want)
		})
	}
}

func TestRollOnIndexEntries(t *testing.T) {
	tests := []struct {
		name       string
		maxIndex   uint64
		perSegment int
	}{
		{"four entries", 4 * entryWidth, 4},
		{"four entries and a part", 5*entryWidth - 1, 4},
		{"one entry", entryWidth, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, quietConfig(1<<20, tt.maxIndex))
			want := appendN(t, l, 10)
			var wantBases []uint64
			for b := 0; b < 10; b += tt.perSegment {
				wantBases = append(wantBases, uint64(b))
			}
			if got := bases(t, dir); !slices.Equal(got, wantBases) {
				t.Fatalf("bases %v, want %v", got, wantBases)
			}
			// Sealed indexes are cut to their entries.
			idx := files(t, dir, indexSuffix)
			for _, p := range idx[:len(idx)-1] {
				if fi, _ := os.Stat(p); fi.Size() != int64(tt.perSegment*entryWidth) {
					t.Fatalf("sealed index %s: %d bytes, want %d", p, fi.Size(), tt.perSegment*entryWidth)
				}
			}
			checkReadAll(t, l, want)
		})
	}
}

func TestRecordTooLarge(t *testing.T) {
	fs := frameSize(t, value(0), 0)
	maxStore := uint64(4 * fs)
	big := func(frame int) []byte {
		// A value whose frame at a small offset takes exactly frame bytes.
		v := bytes.Repeat([]byte{'x'}, frame-fs+len(value(0)))
		if got := frameSize(t, v, 1); got != frame {
			t.Fatalf("value of %d bytes makes a frame of %d, want %d", len(v), got, frame)
		}
		return v
	}
	tests := []struct {
		name  string
		batch [][]byte
		ok    bool
	}{
		{"frame of exactly a segment", [][]byte{big(int(maxStore))}, true},
		{"frame one byte over a segment", [][]byte{big(int(maxStore) + 1)}, false},
		{"far larger than a segment", [][]byte{bytes.Repeat([]byte{1}, 1<<20)}, false},
		{"too large last in a batch", [][]byte{value(1), value(2), big(int(maxStore) + 1)}, false},
		{"too large first in a batch", [][]byte{big(int(maxStore) + 1), value(2)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, quietConfig(maxStore, 100*entryWidth))
			want := appendN(t, l, 1)
			before, stats := readerBytes(t, l), l.Stats()
			batch := make([]*messages.Record, len(tt.batch))
			for i, v := range tt.batch {
				batch[i] = &messages.Record{Value: v}
			}
			_, err := l.AppendBatch(batch)
			if tt.ok {
				if err != nil {
					t.Fatalf("append: %v", err)
				}
				want = append(want, batch...)
				checkReadAll(t, l, want)
				return
			}
			if !errors.Is(err, ErrRecordTooLarge) {
				t.Fatalf("append: %v, want ErrRecordTooLarge", err)
			}
			for i, r := range batch {
				if r.Offset != 0 || r.Timestamp != 0 {
					t.Fatalf("rejected record %d was given offset %d, timestamp %d", i, r.Offset, r.Timestamp)
				}
			}
			if got := readerBytes(t, l); !bytes.Equal(got, before) || l.Stats() != stats {
				t.Fatalf("log changed by a rejected append: %+v, was %+v", l.Stats(), stats)
			}
			// Still usable, and the next record takes the next offset.
			want = append(want, appendN(t, l, 5)...)
			checkReadAll(t, l, want)
		})
	}
}

// TestOffsetsExhausted appends at the top of the offset space: offsets must
// not wrap around to 0 and be given out again.
func TestOffsetsExhausted(t *testing.T) {
	const top = ^uint64(0) // NextOffset can be at most this
	tests := []struct {
		name    string
		initial uint64
		batch   int
		wantErr bool
	}{
		{"last record fits", top - 1, 1, false},
		{"batch up to the top", top - 3, 3, false},
		{"batch one past the top", top - 3, 4, true},
		{"no room at all", top, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := quietConfig(0, 0)
			c.Segment.InitialOffset = tt.initial
			l := openLog(t, dir, c)
			batch := appendable(tt.batch)
			first, err := l.AppendBatch(batch)
			if tt.wantErr {
				if !errors.Is(err, ErrOffsetOutOfRange) {
					t.Fatalf("append of %d at %d: offset %d, %v; want ErrOffsetOutOfRange", tt.batch, tt.initial, first, err)
				}
				if n := l.NextOffset(); n != tt.initial {
					t.Fatalf("next offset %d after a refused append, want %d", n, tt.initial)
				}
				return
			}
			if err != nil || first != tt.initial {
				t.Fatalf("append: offset %d, %v", first, err)
			}
			if n := l.NextOffset(); n != top {
				t.Fatalf("next offset %d, want %d", n, top)
			}
			if _, err := l.Append(&messages.Record{}); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("append past the top: %v, want ErrOffsetOutOfRange", err)
			}
			checkReadAll(t, l, batch)
			closeLog(t, l)
			l = openLog(t, dir, c)
			checkReadAll(t, l, batch)
		})
	}
}
