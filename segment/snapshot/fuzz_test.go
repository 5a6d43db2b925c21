package snapshot

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary streams to a Reader: it must never panic or
// hang, every refusal must be a *FormatError, and a stream it accepts must
// be exactly what a Writer makes of the header and records it read.
func FuzzReader(f *testing.F) {
	f.Add(writeSnapshot(f, Header{LogID: LogID{1}, First: 3, Next: 7}, testRecords(3, 4)))
	f.Add(writeSnapshot(f, Header{First: 0, Next: 0}, nil))
	f.Add([]byte("EVLOGSNP"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b), WithMaxRecordBytes(1<<16))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("header refused with %v, not a *FormatError", err)
			}
			return
		}
		var again bytes.Buffer
		w, err := NewWriter(&again, r.Header())
		if err != nil {
			t.Fatalf("NewWriter of an accepted header: %v", err)
		}
		for {
			raw, _, err := r.NextRaw()
			if errors.Is(err, io.EOF) {
				break
			}
			var fe *FormatError
			if errors.As(err, &fe) {
				return
			}
			if err != nil {
				t.Fatalf("refused with %v, not a *FormatError", err)
			}
			if err := w.WriteRaw(raw); err != nil {
				t.Fatalf("WriteRaw of an accepted record: %v", err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), b) {
			t.Fatalf("accepted stream %x rewrites as %x", b, again.Bytes())
		}
	})
}
