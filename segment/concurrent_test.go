package segment

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/evlog/evlog/messages"
)

// writerValue is the value of the i-th record of writer w.
func writerValue(w, i int) []byte { return fmt.Appendf(nil, "writer-%d-record-%04d", w, i) }

func parseWriterValue(v []byte) (w, i int, err error) {
	_, err = fmt.Sscanf(string(v), "writer-%d-record-%d", &w, &i)
	return w, i, err
}

// TestConcurrentAppendRead runs appenders, single and batched, against
// readers of single and raw records, with segments small enough to roll
// now and then (a roll syncs and so takes milliseconds). Every offset must be given out exactly once, each writer's
// records must keep their order, and a reader must only ever see whole,
// right records.
func TestConcurrentAppendRead(t *testing.T) {
	const writers, rounds, batch = 4, 40, 3
	tests := []struct {
		name string
		mode SyncMode
	}{
		{"sync always", SyncAlways},
		{"sync never", SyncNever},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig(4096, 64*entryWidth)
			c.Sync.Mode = tt.mode
			l := openLog(t, t.TempDir(), c)

			var wg sync.WaitGroup
			offsets := make([][]uint64, writers) // offsets[w][i] of writer w's record i
			errs := make(chan error, writers+2)
			for w := range writers {
				wg.Go(func() {
					i := 0
					for r := range rounds {
						if r%2 == 0 {
							off, err := l.Append(&messages.Record{Value: writerValue(w, i)})
							if err != nil {
								errs <- fmt.Errorf("writer %d append: %w", w, err)
								return
							}
							offsets[w] = append(offsets[w], off)
							i++
							continue
						}
						recs := make([]*messages.Record, batch)
						for j := range recs {
							recs[j] = &messages.Record{Value: writerValue(w, i+j)}
						}
						first, err := l.AppendBatch(recs)
						if err != nil {
							errs <- fmt.Errorf("writer %d batch: %w", w, err)
							return
						}
						for j := range recs {
							offsets[w] = append(offsets[w], first+uint64(j))
						}
						i += batch
					}
				})
			}
			done := make(chan struct{})
			var readers sync.WaitGroup
			for reader := range 2 {
				readers.Go(func() {
					var reads int
					for {
						select {
						case <-done:
							if reads == 0 {
								errs <- errors.New("reader read nothing")
							}
							return
						default:
						}
						next := l.NextOffset()
						if next == 0 {
							continue
						}
						off := uint64(reads*7919) % next
						if reader == 0 {
							r, err := l.Read(off)
							if err != nil {
								errs <- fmt.Errorf("read %d of %d: %w", off, next, err)
								return
							}
							if _, _, err := parseWriterValue(r.Value); err != nil || r.Offset != off {
								errs <- fmt.Errorf("read %d: got offset %d value %q", off, r.Offset, r.Value)
								return
							}
						} else {
							raw, n, err := l.ReadRaw(off, 5, 1<<20, nil)
							if err != nil || n == 0 {
								errs <- fmt.Errorf("read raw %d of %d: %d records, %w", off, next, n, err)
								return
							}
							var first messages.Record
							if err := messages.Unmarshal(raw[:len(raw)/n], &first); err != nil || first.Offset != off {
								errs <- fmt.Errorf("read raw %d: first record %+v, %v", off, first, err)
								return
							}
						}
						reads++
					}
				})
			}
			wg.Wait()
			close(done)
			readers.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}

			total := writers * (rounds/2 + rounds/2*batch)
			if n := l.NextOffset(); n != uint64(total) {
				t.Fatalf("next offset %d, want %d", n, total)
			}
			seen := make([]bool, total)
			for w := range writers {
				for i, off := range offsets[w] {
					if seen[off] {
						t.Fatalf("offset %d given out twice", off)
					}
					seen[off] = true
					if i > 0 && off <= offsets[w][i-1] {
						t.Fatalf("writer %d: record %d at %d, after %d", w, i, off, offsets[w][i-1])
					}
					r, err := l.Read(off)
					if err != nil {
						t.Fatalf("read %d: %v", off, err)
					}
					if !bytes.Equal(r.Value, writerValue(w, i)) {
						t.Fatalf("offset %d holds %q, want %q", off, r.Value, writerValue(w, i))
					}
				}
			}
		})
	}
}

// TestConcurrentTruncate truncates while others append and read: a read
// may find its offset gone, but never a wrong record.
func TestConcurrentTruncate(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig(1024, 16*entryWidth))
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	appended := make(chan uint64, n)
	wg.Go(func() {
		defer close(appended)
		for i := range n {
			off, err := l.Append(&messages.Record{Value: value(i)})
			if err != nil || off != uint64(i) {
				errs <- fmt.Errorf("append %d: offset %d, %w", i, off, err)
				return
			}
			appended <- off
		}
	})
	wg.Go(func() {
		for off := range appended {
			if off%10 == 0 {
				if err := l.TruncateFront(off / 2); err != nil {
					errs <- fmt.Errorf("truncate %d: %w", off/2, err)
					return
				}
			}
		}
	})
	wg.Go(func() {
		for i := range 2000 {
			next := l.NextOffset()
			if next == 0 {
				continue
			}
			off := uint64(i*31) % next
			r, err := l.Read(off)
			switch {
			case errors.Is(err, ErrOffsetOutOfRange):
			case err != nil:
				errs <- fmt.Errorf("read %d: %w", off, err)
				return
			case !bytes.Equal(r.Value, value(int(off))) || r.Offset != off:
				errs <- fmt.Errorf("read %d: got %+v", off, r)
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestConcurrentSync calls Sync from many goroutines while others append:
// every call returns nil and covers the appends before it.
func TestConcurrentSync(t *testing.T) {
	c := testConfig(1024, 0)
	c.Sync.Mode = SyncNever
	l := openLog(t, t.TempDir(), c)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				off, err := l.AppendUnsynced([]*messages.Record{{Value: writerValue(g, i)}})
				if err != nil {
					errs <- err
					return
				}
				if err := l.Sync(); err != nil {
					errs <- err
					return
				}
				l.syncMu.Lock()
				synced := l.synced
				l.syncMu.Unlock()
				if synced <= off {
					errs <- fmt.Errorf("sync returned with offset %d appended and %d synced", off, synced)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestCloseWhileAppending closes the log under appenders, syncers and
// readers: each gets ErrClosed or succeeds, nothing panics or hangs, and
// every acknowledged record is there after a reopen.
func TestCloseWhileAppending(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			c := testConfig(4096, 64*entryWidth)
			c.Sync.Mode = mode
			l, err := NewLog(dir, c)
			if err != nil {
				t.Fatal(err)
			}
			const appenders = 4
			var wg sync.WaitGroup
			started := make(chan struct{}, appenders)
			acked := make([][]uint64, appenders)
			errs := make(chan error, appenders+2)
			for g := range appenders {
				wg.Go(func() {
					for i := 0; ; i++ {
						var off uint64
						var err error
						if i%2 == 0 {
							off, err = l.Append(&messages.Record{Value: writerValue(g, i)})
						} else {
							off, err = l.AppendBatch([]*messages.Record{{Value: writerValue(g, i)}})
						}
						if err != nil {
							if !errors.Is(err, ErrClosed) {
								errs <- fmt.Errorf("appender %d: %w", g, err)
							}
							return
						}
						acked[g] = append(acked[g], off)
						if i == 0 {
							started <- struct{}{}
						}
					}
				})
			}
			wg.Go(func() {
				for {
					if err := l.Sync(); err != nil {
						if !errors.Is(err, ErrClosed) {
							errs <- fmt.Errorf("sync: %w", err)
						}
						return
					}
				}
			})
			wg.Go(func() {
				for i := 0; ; i++ {
					_, err := l.Read(uint64(i) % max(l.NextOffset(), 1))
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
						errs <- fmt.Errorf("read: %w", err)
						return
					}
				}
			})
			for range appenders {
				<-started
			}
			var closers sync.WaitGroup
			for range 2 {
				closers.Go(func() {
					if err := l.Close(); err != nil {
						errs <- fmt.Errorf("close: %w", err)
					}
				})
			}
			closers.Wait()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}

			l = openLog(t, dir, c)
			if r := l.Recovered(); len(r) != 0 {
				t.Fatalf("reopen after close recovered %+v", r)
			}
			for g, offs := range acked {
				for i, off := range offs {
					r, err := l.Read(off)
					if err != nil {
						t.Fatalf("acknowledged offset %d: %v", off, err)
					}
					if !bytes.Equal(r.Value, writerValue(g, i)) {
						t.Fatalf("offset %d holds %q, want %q", off, r.Value, writerValue(g, i))
					}
				}
			}
		})
	}
}
