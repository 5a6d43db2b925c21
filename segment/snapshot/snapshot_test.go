package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/evlog/evlog/messages"
)

func TestRoundTrip(t *testing.T) {
	h := Header{LogID: LogID{1, 2, 3, 15: 16}, First: 1000, Next: 1013}
	recs := testRecords(h.First, 13)
	b := writeSnapshot(t, h, recs)
	gotH, got, err := readAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if gotH != h {
		t.Errorf("header %+v, want %+v", gotH, h)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Errorf("records differ:\n got %+v\nwant %+v", got, recs)
	}
}

func TestWriteRawKeepsTheBytes(t *testing.T) {
	h := Header{First: 5, Next: 9}
	recs := testRecords(h.First, 4)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for _, r := range recs {
		raw, err := messages.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
		if err := w.WriteRaw(raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if want := writeSnapshot(t, h, recs); !bytes.Equal(buf.Bytes(), want) {
		t.Error("WriteRaw and Write of the same records give different streams")
	}
	r, err := NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range raws {
		raw, off, err := r.NextRaw()
		if err != nil || off != h.First+uint64(i) || !bytes.Equal(raw, want) {
			t.Fatalf("NextRaw %d: %x, offset %d, %v; want %x, offset %d", i, raw, off, err, want, h.First+uint64(i))
		}
	}
	if _, _, err := r.NextRaw(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last record: %v, want io.EOF", err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("again: %v, want io.EOF", err)
	}
}

func TestEmptySnapshot(t *testing.T) {
	h := Header{First: 42, Next: 42}
	b := writeSnapshot(t, h, nil)
	if len(b) != HeaderSize+TrailerSize {
		t.Errorf("empty snapshot of %d bytes, want %d", len(b), HeaderSize+TrailerSize)
	}
	gotH, got, err := readAll(b)
	if err != nil || gotH != h || len(got) != 0 {
		t.Fatalf("read %+v, %d records, %v", gotH, len(got), err)
	}
}

// Every single-bit flip anywhere in a snapshot is refused with one of the
// format errors: none reads back as a valid snapshot.
func TestBitFlipRefused(t *testing.T) {
	b := writeSnapshot(t, Header{LogID: LogID{9}, First: 7, Next: 11}, testRecords(7, 4))
	for i := range b {
		for bit := range 8 {
			c := bytes.Clone(b)
			c[i] ^= 1 << bit
			_, _, err := readAll(c)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("flip of bit %d at byte %d: err %v, want a *FormatError", bit, i, err)
			}
			if fe.Pos > int64(i) {
				t.Fatalf("flip at byte %d reported at byte %d, after it: %v", i, fe.Pos, err)
			}
		}
	}
}

// A snapshot cut at any byte is refused as truncated.
func TestTruncationRefused(t *testing.T) {
	b := writeSnapshot(t, Header{First: 0, Next: 3}, testRecords(0, 3))
	for n := range len(b) {
		_, _, err := readAll(b[:n])
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d of %d bytes: %v, want ErrTruncated", n, len(b), err)
		}
	}
}

func TestReorderedFramesRefused(t *testing.T) {
	b := writeSnapshot(t, Header{First: 20, Next: 24}, testRecords(20, 4))
	s := frameStarts(b)
	// Swap the frames of offsets 21 and 22.
	f1, f2 := bytes.Clone(b[s[1]:s[2]]), bytes.Clone(b[s[2]:s[3]])
	c := append(append(append(bytes.Clone(b[:s[1]]), f2...), f1...), b[s[3]:]...)
	_, got, err := readAll(c)
	var fe *FormatError
	if !errors.Is(err, ErrOffset) || !errors.As(err, &fe) || fe.Offset != 21 || fe.Pos != int64(s[1]) {
		t.Fatalf("swapped frames: %v, want ErrOffset at offset 21, byte %d", err, s[1])
	}
	if len(got) != 1 {
		t.Errorf("%d records handed out before the bad one, want 1", len(got))
	}
	if !strings.Contains(err.Error(), "offset 21") || !strings.Contains(err.Error(), "offset 22") {
		t.Errorf("error %q names neither the expected nor the found offset", err)
	}
}

func TestHeaderRefused(t *testing.T) {
	good := writeSnapshot(t, Header{First: 3, Next: 5}, testRecords(3, 2))
	tests := []struct {
		name   string
		change func(b []byte) []byte
		want   error
	}{
		{"foreign magic", func(b []byte) []byte { return append([]byte("PK\x03\x04zip!"), b[8:]...) }, ErrNotSnapshot},
		{"empty stream", func(b []byte) []byte { return nil }, ErrTruncated},
		{"newer version", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[8:], Version+1)
			reseal(b)
			return b
		}, ErrVersion},
		{"version 0", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[8:], 0)
			reseal(b)
			return b
		}, ErrVersion},
		{"count disagrees with offsets", func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[44:], 3)
			reseal(b)
			return b
		}, ErrHeader},
		{"next below first", func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[36:], 2)
			reseal(b)
			return b
		}, ErrHeader},
		{"bad header crc", func(b []byte) []byte { b[30] ^= 1; return b }, ErrHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.change(bytes.Clone(good))))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestTrailerRefused(t *testing.T) {
	good := writeSnapshot(t, Header{First: 3, Next: 5}, testRecords(3, 2))
	tail := len(good) - TrailerSize
	tests := []struct {
		name   string
		change func(b []byte) []byte
		want   error
	}{
		{"count mismatch", func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[tail+8:], 1)
			reseal(b)
			return b
		}, ErrCount},
		{"bad stream crc", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ErrTrailer},
		{"bytes after the trailer", func(b []byte) []byte { return append(b, 0) }, ErrTrailer},
		{"another snapshot after it", func(b []byte) []byte { return append(b, good...) }, ErrTrailer},
		{"no trailer, a frame instead", func(b []byte) []byte { return append(b[:tail], b[HeaderSize:tail]...) }, ErrTrailer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, err := readAll(tt.change(bytes.Clone(good)))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if len(got) != 2 {
				t.Errorf("%d records before the trailer, want 2", len(got))
			}
		})
	}
}

// A frame declaring more than the limit is refused before the Reader
// allocates or reads its bytes.
func TestFrameLimit(t *testing.T) {
	recs := testRecords(0, 2)
	recs[1].Value = bytes.Repeat([]byte("x"), 1000)
	b := writeSnapshot(t, Header{First: 0, Next: 2}, recs)
	if _, _, err := readAll(b, WithMaxRecordBytes(2000)); err != nil {
		t.Fatalf("under the limit: %v", err)
	}
	_, got, err := readAll(b, WithMaxRecordBytes(500))
	var fe *FormatError
	if !errors.Is(err, ErrFrameTooLarge) || !errors.As(err, &fe) || fe.Offset != 1 || len(got) != 1 {
		t.Fatalf("over the limit: %v after %d records, want ErrFrameTooLarge at offset 1", err, len(got))
	}

	huge := bytes.Clone(b)
	binary.BigEndian.PutUint32(huge[HeaderSize:], MaxRecordBytes)
	r, err := NewReader(bytes.NewReader(huge))
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1, func() {
		if _, err := r.Next(); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("4 GiB frame: %v, want ErrFrameTooLarge", err)
		}
	})
	if allocs > 2 {
		t.Errorf("refusing a 4 GiB frame took %.0f allocations", allocs)
	}
}

// A damaged length under the limit costs memory for the bytes the stream
// holds, not for the length it declares.
func TestDamagedLengthAllocatesWhatIsThere(t *testing.T) {
	b := writeSnapshot(t, Header{First: 0, Next: 2}, testRecords(0, 2))
	binary.BigEndian.PutUint32(b[HeaderSize:], DefaultMaxRecordBytes-1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := readAll(b)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v, want ErrTruncated", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("reading a %d-byte snapshot allocated %d bytes", len(b), n)
	}
}

func TestErrorNamesPositionAndOffset(t *testing.T) {
	b := writeSnapshot(t, Header{First: 100, Next: 103}, testRecords(100, 3))
	s := frameStarts(b)
	b[s[2]+FrameHeaderSize+3] ^= 0x40
	_, _, err := readAll(b)
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("got %v, want ErrChecksum", err)
	}
	want := "snapshot frame checksum mismatch at byte " + strconv.Itoa(s[2]) + " (offset 102)"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
}

func TestWriterRefusesWhatAReaderWould(t *testing.T) {
	if _, err := NewWriter(io.Discard, Header{First: 5, Next: 4}); !errors.Is(err, ErrHeader) {
		t.Errorf("next below first: %v, want ErrHeader", err)
	}
	recs := testRecords(10, 3)
	w, err := NewWriter(io.Discard, Header{First: 10, Next: 12})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(recs[1]); !errors.Is(err, ErrOffset) {
		t.Errorf("offset 11 first: %v, want ErrOffset", err)
	}
	if err := w.Write(recs[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRaw([]byte{0x81}); !errors.Is(err, messages.ErrMalformed) {
		t.Errorf("raw map without its entry: %v, want ErrMalformed", err)
	}
	if err := w.Close(); !errors.Is(err, ErrCount) {
		t.Errorf("close after 1 of 2 records: %v, want ErrCount", err)
	}
	if err := w.Close(); !errors.Is(err, ErrCount) {
		t.Errorf("second close: %v, want the same ErrCount", err)
	}

	w, err = NewWriter(io.Discard, Header{First: 10, Next: 11})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(recs[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(recs[1]); !errors.Is(err, ErrCount) {
		t.Errorf("record past the range: %v, want ErrCount", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("close of a complete snapshot: %v", err)
	}
	if err := w.Write(recs[1]); err == nil {
		t.Error("write after close accepted")
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after < len(p) {
		return 0, errors.New("disk full")
	}
	f.after -= len(p)
	return len(p), nil
}

func TestWriterReportsWriteErrors(t *testing.T) {
	w, err := NewWriter(&failWriter{}, Header{First: 0, Next: 1})
	if err != nil {
		t.Fatal(err) // buffered: the header is not written yet
	}
	if err := w.Write(testRecords(0, 1)[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("close: %v, want the write error", err)
	}
}
