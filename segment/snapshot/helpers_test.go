package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"testing"

	"github.com/evlog/evlog/messages"
)

// testRecords returns n records from offset first with every field in use
// somewhere: keys, headers, empty and binary values, varied timestamps.
func testRecords(first uint64, n int) []*messages.Record {
	recs := make([]*messages.Record, n)
	for i := range recs {
		r := &messages.Record{
			Offset:    first + uint64(i),
			Timestamp: 1_700_000_000_000_000_000 + int64(i)*1_000_003,
			Value:     []byte(fmt.Sprintf("value %d", i)),
		}
		switch i % 4 {
		case 1:
			r.Key = []byte{0xff, byte(i)}
		case 2:
			r.Headers = map[string]string{"h": fmt.Sprint(i), "kind": "test"}
		case 3:
			r.Value = nil
			r.Key = []byte("key only")
		}
		recs[i] = r
	}
	return recs
}

// writeSnapshot returns the snapshot of recs, which run from h.First to
// h.Next.
func writeSnapshot(t testing.TB, h Header, recs []*messages.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Written() != int64(buf.Len()) {
		t.Fatalf("Written %d, the stream has %d bytes", w.Written(), buf.Len())
	}
	return buf.Bytes()
}

// readAll reads every record of b, and the error that ended the read
// (nil when the trailer checked out).
func readAll(b []byte, opts ...ReaderOption) (Header, []*messages.Record, error) {
	r, err := NewReader(bytes.NewReader(b), opts...)
	if err != nil {
		return Header{}, nil, err
	}
	var recs []*messages.Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Header(), recs, nil
		}
		if err != nil {
			return r.Header(), recs, err
		}
		recs = append(recs, rec)
	}
}

// frameStarts returns the byte position of every frame of snapshot b.
func frameStarts(b []byte) []int {
	var starts []int
	count := binary.BigEndian.Uint64(b[44:])
	for i, pos := uint64(0), HeaderSize; i < count; i++ {
		starts = append(starts, pos)
		pos += FrameHeaderSize + int(binary.BigEndian.Uint32(b[pos:]))
	}
	return starts
}

// reseal recomputes the header CRC and the trailer's stream CRC of b, so
// that a test can change a field and see that check alone catch it.
func reseal(b []byte) {
	binary.BigEndian.PutUint32(b[52:], crc32.Checksum(b[:52], crcTable))
	end := len(b) - 4
	binary.BigEndian.PutUint32(b[end:], crc32.Checksum(b[:end], crcTable))
}
