package segment

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/evlog/evlog/messages"
)

func testConfig(storeBytes, indexBytes uint64) Config {
	var c Config
	c.Segment.MaxStoreBytes = storeBytes
	c.Segment.MaxIndexBytes = indexBytes
	return c
}

func openLog(t *testing.T, dir string, c Config) *Log {
	t.Helper()
	l, err := NewLog(dir, c)
	if err != nil {
		t.Fatalf("NewLog: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func value(i int) []byte { return []byte(fmt.Sprintf("record-%06d", i)) }

func TestAppendRead(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(1024, entryWidth*8))
	for i := range 100 {
		off, err := l.Append(&messages.Record{Value: value(i)})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if off != uint64(i) {
			t.Fatalf("append %d got offset %d", i, off)
		}
	}
	for i := range 100 {
		r, err := l.Read(uint64(i))
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if !bytes.Equal(r.Value, value(i)) || r.Offset != uint64(i) || r.Timestamp == 0 {
			t.Fatalf("read %d: got %+v", i, r)
		}
	}
	if _, err := l.Read(100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past end: %v", err)
	}
	if st := l.Stats(); st.Segments < 2 {
		t.Fatalf("expected rolls, got %+v", st)
	}
}
