package segment

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

var benchSizes = []struct {
	name string
	size int
}{
	{"100B", 100},
	{"1KiB", 1024},
}

var benchModes = []SyncMode{SyncAlways, SyncInterval, SyncNever}

// benchFrame is the frame a record of value v takes at a typical offset:
// what each benchmark counts as its bytes, so that the MB/s of the log and
// of the baseline compare the same bytes.
func benchFrame(b *testing.B, v []byte) []byte {
	b.Helper()
	enc, err := messages.Marshal(&messages.Record{Value: v, Offset: 1 << 20, Timestamp: 1 << 60})
	if err != nil {
		b.Fatal(err)
	}
	return frame.Append(nil, enc, false)
}

// newBenchLog opens a log with the default segment sizes (64 MiB stores),
// so that benchmarks pay for rolls as a real log does.
func newBenchLog(b *testing.B, mode SyncMode) *Log {
	b.Helper()
	c := DefaultConfig()
	c.Sync.Mode = mode
	l, err := NewLog(b.TempDir(), c)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// trim deletes the sealed segments, off the clock, so that a long run does
// not fill the disk.
func trim(b *testing.B, l *Log) {
	if l.Stats().Segments <= 2 {
		return
	}
	b.StopTimer()
	if err := l.TruncateFront(l.NextOffset() - 1); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
}

func BenchmarkAppend(b *testing.B) {
	for _, mode := range benchModes {
		for _, sz := range benchSizes {
			b.Run(mode.String()+"/"+sz.name, func(b *testing.B) {
				l := newBenchLog(b, mode)
				r := &messages.Record{Value: bytes.Repeat([]byte{'x'}, sz.size)}
				b.SetBytes(int64(len(benchFrame(b, r.Value))))
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					r.Timestamp = 0
					if _, err := l.Append(r); err != nil {
						b.Fatal(err)
					}
					if i%4096 == 4095 {
						trim(b, l)
					}
				}
			})
		}
	}
}

func BenchmarkAppendBatch(b *testing.B) {
	const batchLen = 100
	for _, mode := range benchModes {
		for _, sz := range benchSizes {
			b.Run(mode.String()+"/"+sz.name, func(b *testing.B) {
				l := newBenchLog(b, mode)
				v := bytes.Repeat([]byte{'x'}, sz.size)
				batch := make([]*messages.Record, batchLen)
				for i := range batch {
					batch[i] = &messages.Record{Value: v}
				}
				b.SetBytes(int64(batchLen * len(benchFrame(b, v))))
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					for _, r := range batch {
						r.Timestamp = 0
					}
					if _, err := l.AppendBatch(batch); err != nil {
						b.Fatal(err)
					}
					if i%64 == 63 {
						trim(b, l)
					}
				}
			})
		}
	}
}

// BenchmarkAppendParallel appends from many goroutines at once; under
// SyncAlways they share fdatasyncs (group commit).
func BenchmarkAppendParallel(b *testing.B) {
	for _, mode := range benchModes {
		for _, sz := range benchSizes {
			b.Run(mode.String()+"/"+sz.name, func(b *testing.B) {
				l := newBenchLog(b, mode)
				v := bytes.Repeat([]byte{'x'}, sz.size)
				b.SetBytes(int64(len(benchFrame(b, v))))
				b.ReportAllocs()
				b.SetParallelism(8)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					r := &messages.Record{Value: v}
					for pb.Next() {
						r.Timestamp = 0
						if _, err := l.Append(r); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkRead reads records that are in the page cache, in order.
func BenchmarkRead(b *testing.B) {
	const records = 10_000
	for _, mode := range benchModes {
		for _, sz := range benchSizes {
			b.Run(mode.String()+"/"+sz.name, func(b *testing.B) {
				l := newBenchLog(b, mode)
				v := bytes.Repeat([]byte{'x'}, sz.size)
				batch := make([]*messages.Record, 100)
				for i := range batch {
					batch[i] = &messages.Record{Value: v}
				}
				for range records / len(batch) {
					for _, r := range batch {
						r.Timestamp = 0
					}
					if _, err := l.AppendUnsynced(batch); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(len(benchFrame(b, v))))
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					r, err := l.Read(uint64(i % records))
					if err != nil || len(r.Value) != sz.size {
						b.Fatalf("read %d: %v", i%records, err)
					}
				}
			})
		}
	}
}

// BenchmarkBaselineBufferedWrite writes the frames that BenchmarkAppend
// writes (the 8-byte header and an encoding-sized payload) to a plain file
// through a 64 KiB bufio.Writer, starting a new file every 64 MiB as the log
// does. It is the ceiling for appends that are not synced.
func BenchmarkBaselineBufferedWrite(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			frame := benchFrame(b, bytes.Repeat([]byte{'x'}, sz.size))
			path := filepath.Join(b.TempDir(), "baseline")
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			w := bufio.NewWriterSize(f, 64<<10)
			b.Cleanup(func() { f.Close() })
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			b.ResetTimer()
			written := 0
			for range b.N {
				if _, err := w.Write(frame); err != nil {
					b.Fatal(err)
				}
				if written += len(frame); written >= DefaultMaxStoreBytes {
					if err := w.Flush(); err != nil {
						b.Fatal(err)
					}
					f.Close()
					if f, err = os.Create(path); err != nil {
						b.Fatal(err)
					}
					w.Reset(f)
					written = 0
				}
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
