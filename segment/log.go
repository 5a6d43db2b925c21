package segment

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/evlog/evlog/messages"
)

// Log is an append-only sequence of records stored in segments in one
// directory. It is safe for concurrent use: reads run in parallel with each
// other and wait only for the memory writes of an append, never for a sync.
type Log struct {
	dir    string
	config Config

	// mu guards the fields below it. Lock order: mu before syncMu.
	mu       sync.RWMutex
	segments []*segment
	closed   bool
	enc      *messages.Encoder
	scratch  messages.Record // what enc encodes, so that it need not escape
	frames   []byte          // scratch for a batch's frames
	ends     []int           // scratch: end of each frame in frames

	// syncMu guards the group-commit state. A Sync caller that finds no
	// sync running becomes the leader: it syncs everything written so far
	// while later callers wait for the following round, so one fdatasync
	// serves every append that completed before it started.
	syncMu   sync.Mutex
	syncCond *sync.Cond
	syncing  bool
	synced   uint64 // every offset below is durable
	syncErr  error  // sticky: after a failed sync nothing more is acknowledged

	recovered []Recovery
	lock      *os.File      // holds the directory's lock until Close
	stop      chan struct{} // closed by Close to stop the interval syncer
	done      chan struct{} // closed when the interval syncer has returned
	closeOnce sync.Once
}

// NewLog opens the log in dir, creating the directory and a first segment
// at Config.Segment.InitialOffset if it holds none. Existing segments are
// checked: the last one's torn tail is cut and any index that does not match
// its store is rebuilt; Recovered reports what was repaired.
func NewLog(dir string, c Config) (*Log, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, config: c, enc: messages.NewEncoder(), lock: lock}
	l.syncCond = sync.NewCond(&l.syncMu)
	if err := l.open(); err != nil {
		l.unlock()
		return nil, err
	}
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	if c.Sync.Mode == SyncInterval {
		go l.syncEvery(c.Sync.Interval)
	} else {
		close(l.done)
	}
	return l, nil
}

// open loads the segments found in dir, or creates the first one.
func (l *Log) open() error {
	bases, err := segmentBases(l.dir)
	if err != nil {
		return err
	}
	if len(bases) == 0 {
		bases = []uint64{l.config.Segment.InitialOffset}
	}
	for i, base := range bases {
		active := i == len(bases)-1
		var storeBytes uint64 // a sealed store is mapped at its size
		if active {
			storeBytes = l.config.Segment.MaxStoreBytes
		}
		s, rec, err := openSegment(l.dir, base, l.config.Segment.MaxIndexBytes, storeBytes, active)
		if err != nil {
			l.closeSegments()
			return err
		}
		if rec != nil {
			l.recovered = append(l.recovered, *rec)
			l.config.Logger.Warn("segment repaired", "store", rec.Store, "records", rec.Records,
				"index_rebuilt", rec.IndexRebuilt, "truncated_bytes", rec.TruncatedBytes, "damaged_bytes", rec.DamagedBytes)
		}
		if i > 0 && s.base < l.segments[i-1].next() {
			l.closeSegments()
			s.close()
			return fmt.Errorf("%w: segment %s overlaps the one before it", ErrCorrupt, s.store.name)
		}
		l.segments = append(l.segments, s)
	}
	// Whatever the files hold now counts as durable from here on, so make
	// it so: a previous process may have died before syncing.
	if err := l.active().store.sync(); err != nil {
		l.closeSegments()
		return err
	}
	if err := syncDir(l.dir); err != nil {
		l.closeSegments()
		return err
	}
	l.synced = l.active().next()
	return nil
}

// segmentBases lists the base offsets of the stores in dir, in order.
func segmentBases(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list log dir: %w", err)
	}
	var bases []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), storeSuffix)
		if !ok || e.IsDir() {
			continue
		}
		// Only names as segmentName makes them are ours: "7.store" parses
		// too, but the log would then open and create
		// 00000000000000000007.store instead.
		base, err := strconv.ParseUint(name, 10, 64)
		if err != nil || len(name) != 20 {
			continue
		}
		bases = append(bases, base)
	}
	slices.Sort(bases)
	return bases, nil
}

func (l *Log) active() *segment { return l.segments[len(l.segments)-1] }

// Recovered reports the segments NewLog found damaged or not cleanly closed
// and what it did about them. It is empty after a clean shutdown.
func (l *Log) Recovered() []Recovery { return slices.Clone(l.recovered) }

// Append appends r, sets its Offset (and its Timestamp, when zero) and
// returns the offset. Under SyncAlways it returns once r is durable.
func (l *Log) Append(r *messages.Record) (uint64, error) {
	return l.AppendBatch([]*messages.Record{r})
}

// AppendBatch appends records with contiguous offsets, in order, and returns
// the first. Under SyncAlways it returns once all of them are durable.
//
// A batch that fits in one segment is written with one write: on error none
// of it is in the log. A batch larger than a whole segment is split across
// segments, and an error may leave a prefix of it appended.
func (l *Log) AppendBatch(records []*messages.Record) (first uint64, err error) {
	first, err = l.AppendUnsynced(records)
	if err != nil || l.config.Sync.Mode != SyncAlways {
		return first, err
	}
	return first, l.Sync()
}

// AppendUnsynced appends like AppendBatch but returns as soon as the records
// are written to the operating system, whatever the sync mode: they survive
// a crash of the process but not of the machine until Sync returns. A
// server uses it to acknowledge many requests after one Sync.
func (l *Log) AppendUnsynced(records []*messages.Record) (first uint64, err error) {
	if len(records) == 0 {
		return 0, errors.New("append: no records")
	}
	if i := slices.Index(records, nil); i >= 0 {
		return 0, fmt.Errorf("append: record %d of the batch is nil", i)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.releaseScratch()
	if l.closed {
		return 0, ErrClosed
	}
	l.syncMu.Lock()
	serr := l.syncErr
	l.syncMu.Unlock()
	if serr != nil {
		return 0, fmt.Errorf("append: %w", serr)
	}
	first = l.active().next()
	// NextOffset must stay representable: past the largest offset the
	// next one would wrap to 0 and offsets would be given out again.
	if uint64(len(records)) > math.MaxUint64-first {
		return 0, fmt.Errorf("%w: append of %d records at offset %d would pass the largest offset",
			ErrOffsetOutOfRange, len(records), first)
	}
	if err := l.encode(records, first); err != nil {
		return 0, err
	}
	maxStore := l.config.Segment.MaxStoreBytes
	maxEntries := l.config.Segment.MaxIndexBytes / entryWidth
	for k := 0; k < len(records); {
		s := l.active()
		from := l.frameStart(k)
		var room uint64
		if s.store.size < maxStore {
			room = maxStore - s.store.size
		}
		slots := s.index.capacity() - s.index.n
		m := 0
		for k+m < len(records) && uint64(m) < slots && uint64(l.ends[k+m]-from) <= room {
			m++
		}
		rest := len(records) - k
		restFitsEmpty := uint64(rest) <= maxEntries && uint64(l.ends[len(records)-1]-from) <= maxStore
		if m == 0 && s.index.n == 0 {
			return first, fmt.Errorf("append: segment %s takes no record", s.store.name)
		}
		if m == 0 || (m < rest && restFitsEmpty && s.index.n > 0) {
			if err := l.roll(); err != nil {
				return first, err
			}
			continue
		}
		if err := s.store.write(l.frames[from:l.ends[k+m-1]]); err != nil {
			return first, fmt.Errorf("append: %w", err)
		}
		pos := s.store.size - uint64(l.ends[k+m-1]-from)
		for j := k; j < k+m; j++ {
			s.index.append(pos + uint64(l.frameStart(j)-from))
		}
		s.end = s.store.size
		k += m
	}
	return first, nil
}

// frameStart is where the frame of batch record j starts in l.frames.
func (l *Log) frameStart(j int) int {
	if j == 0 {
		return 0
	}
	return l.ends[j-1]
}

// encode frames records into l.frames, numbering them from first. Every
// record is checked before anything is written, so that a record too large
// fails the batch as a whole.
func (l *Log) encode(records []*messages.Record, first uint64) error {
	now := time.Now().UnixNano()
	l.frames, l.ends = l.frames[:0], l.ends[:0]
	for j, r := range records {
		l.scratch = messages.Record{
			Value: r.Value, Key: r.Key, Headers: r.Headers,
			Offset: first + uint64(j), Timestamp: cmpOr(r.Timestamp, now),
		}
		payload, err := l.enc.EncodeRecord(&l.scratch)
		if err != nil {
			return fmt.Errorf("append: %w", err)
		}
		if n := uint64(frameHeader + len(payload)); n > l.config.Segment.MaxStoreBytes || len(payload) > 1<<32-1 {
			return fmt.Errorf("%w: record %d of the batch takes %d bytes, a segment holds %d",
				ErrRecordTooLarge, j, n, l.config.Segment.MaxStoreBytes)
		}
		l.frames = appendFrame(l.frames, payload)
		l.ends = append(l.ends, len(l.frames))
	}
	// Only now that the batch is accepted do the caller's records learn
	// their offsets and timestamps.
	for j, r := range records {
		r.Offset = first + uint64(j)
		r.Timestamp = cmpOr(r.Timestamp, now)
	}
	return nil
}

// releaseScratch drops scratch that a huge batch grew, so that it does not
// pin that memory for ever. AppendUnsynced defers it: the scratch is in use
// until the batch is written.
func (l *Log) releaseScratch() {
	if cap(l.frames) > 4<<20 {
		l.frames, l.ends = nil, nil
	}
}

func cmpOr(v, fallback int64) int64 {
	if v != 0 {
		return v
	}
	return fallback
}

// roll seals the active segment and starts a new one after it.
func (l *Log) roll() error {
	s := l.active()
	if err := l.seal(s); err != nil {
		return err
	}
	next, _, err := openSegment(l.dir, s.next(), l.config.Segment.MaxIndexBytes, l.config.Segment.MaxStoreBytes, true)
	if err != nil {
		return err
	}
	l.segments = append(l.segments, next)
	if err := syncDir(l.dir); err != nil {
		// Appends to the new segment would be acknowledged although its
		// file may not survive a power loss, and nothing retries this.
		return l.fail(err)
	}
	return nil
}

// fail makes err the log's sticky failure, unless it already has one, and
// returns the failure: after a sync that did not complete, nothing more
// may be acknowledged until the log is reopened and recovered.
func (l *Log) fail(err error) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.syncErr == nil {
		l.syncErr = fmt.Errorf("%w: %w", ErrFailed, err)
	}
	return l.syncErr
}

// seal makes s, the active segment, durable and cuts its index to size, so
// that a reopen trusts it without a scan. The caller holds mu. The store's
// sync covers appends not yet synced, so its failure fails the log as a
// failed Sync does: a later fdatasync may succeed although the pages this
// one could not write are gone.
func (l *Log) seal(s *segment) error {
	if err := s.store.sync(); err != nil {
		return l.fail(err)
	}
	return s.index.seal()
}

// Sync makes every record appended before the call durable. Concurrent
// callers share syncs. After a failed sync the log is failed: Sync and the
// appends return the error until the log is reopened, because what the
// kernel kept after a failed fdatasync is unknown.
func (l *Log) Sync() error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	target := l.active().next()
	l.mu.RUnlock()

	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	for {
		switch {
		case l.syncErr != nil:
			return l.syncErr
		case l.synced >= target:
			return nil
		case l.syncing:
			l.syncCond.Wait()
			continue
		}
		l.syncing = true
		l.syncMu.Unlock()
		upTo, err := l.syncActive()
		l.syncMu.Lock()
		l.syncing = false
		if err != nil && !errors.Is(err, ErrClosed) {
			if l.syncErr == nil {
				l.syncErr = fmt.Errorf("%w: %w", ErrFailed, err)
			}
			err = l.syncErr
		} else if err == nil && upTo > l.synced {
			l.synced = upTo
		}
		l.syncCond.Broadcast()
		if err != nil {
			return err
		}
	}
}

// syncActive syncs the active segment and returns the offset below which
// everything is then durable. Earlier segments were synced when they were
// sealed.
func (l *Log) syncActive() (uint64, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	s := l.active()
	upTo := s.next()
	l.mu.RUnlock()
	// TruncateFront may remove s while this runs; the store's own lock makes
	// that wait, and a removed segment's records need no sync.
	return upTo, s.store.sync()
}

func (l *Log) syncEvery(d time.Duration) {
	defer close(l.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if err := l.Sync(); err != nil && !errors.Is(err, ErrClosed) {
				l.config.Logger.Error("background sync failed", "err", err)
			}
		}
	}
}

// Read returns the record at offset. An offset below LowestOffset or at or
// beyond NextOffset gives ErrOffsetOutOfRange; a record whose stored bytes
// fail their checks gives ErrCorrupt.
func (l *Log) Read(offset uint64) (*messages.Record, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, k, err := l.locate(offset)
	if err != nil {
		return nil, err
	}
	start, end, err := s.bounds(k)
	if err != nil {
		return nil, err
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	b := slices.Grow((*bp)[:0], int(end-start))[:end-start]
	*bp = b
	if err := s.store.readAt(b, start); err != nil {
		return nil, err
	}
	payload, err := checkFrame(b, start)
	if err != nil {
		return nil, fmt.Errorf("read offset %d: %w", offset, err)
	}
	return decodeRecord(payload, offset)
}

var readBufs = sync.Pool{New: func() any { return new([]byte) }}

// decodeRecord decodes a record read from disk and checks that it is the
// one the index pointed at.
func decodeRecord(payload []byte, offset uint64) (*messages.Record, error) {
	r := &messages.Record{}
	if err := messages.UnmarshalRecord(payload, r); err != nil {
		return nil, fmt.Errorf("%w: offset %d: %v", ErrCorrupt, offset, err)
	}
	if r.Offset != offset {
		return nil, fmt.Errorf("%w: offset %d holds the record of offset %d", ErrCorrupt, offset, r.Offset)
	}
	return r, nil
}

// locate finds the segment holding offset and the record's entry in it.
// The caller holds mu.
func (l *Log) locate(offset uint64) (*segment, uint64, error) {
	if l.closed {
		return nil, 0, ErrClosed
	}
	lowest, next := l.segments[0].base, l.active().next()
	if offset < lowest || offset >= next {
		return nil, 0, fmt.Errorf("%w: offset %d, the log holds [%d, %d)", ErrOffsetOutOfRange, offset, lowest, next)
	}
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > offset }) - 1
	s := l.segments[i]
	if offset >= s.next() {
		// Only a sealed segment whose tail was damaged ends before the
		// next one begins.
		return nil, 0, fmt.Errorf("%w: offset %d lies in the damaged tail of %s", ErrCorrupt, offset, s.store.name)
	}
	return s, offset - s.base, nil
}

// ReadRaw appends to dst the stored msgpack encodings of consecutive records
// from offset on, checksum-verified but not decoded: at most maxRecords of
// them and at most maxBytes of encodings in all, stopping early at the end
// of a segment or before a damaged record. It returns the extended dst and
// how many records it holds; only a damaged record at offset itself gives
// ErrCorrupt.
// When the record at offset alone exceeds maxBytes it returns
// ErrRecordTooLarge and dst unchanged.
func (l *Log) ReadRaw(offset uint64, maxRecords, maxBytes int, dst []byte) ([]byte, int, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, k, err := l.locate(offset)
	if err != nil || maxRecords <= 0 {
		return dst, 0, err
	}
	first, end, err := s.bounds(k)
	if err != nil {
		return dst, 0, err
	}
	// A negative limit admits nothing; as uint64 it would admit everything.
	limit := uint64(max(maxBytes, 0))
	if end-first-frameHeader > limit {
		return dst, 0, fmt.Errorf("%w: record %d takes %d bytes, the limit is %d", ErrRecordTooLarge, offset, end-first-frameHeader, maxBytes)
	}
	// Walk the index to see how many records fit, then read them with one
	// call.
	m, total := 1, end-first-frameHeader
	for ; m < maxRecords && k+uint64(m) < s.index.n; m++ {
		start, e, err := s.bounds(k + uint64(m))
		if err != nil || start != end || total+e-start-frameHeader > limit {
			break
		}
		total += e - start - frameHeader
		end = e
	}
	base := len(dst)
	dst = slices.Grow(dst, int(end-first))[:base+int(end-first)]
	if err := s.store.readAt(dst[base:], first); err != nil {
		return dst[:base], 0, err
	}
	// Verify every frame and slide the payloads over the headers.
	w, r := base, base
	for j := 0; j < m; j++ {
		start, e, _ := s.bounds(k + uint64(j))
		frame := dst[r : r+int(e-start)]
		payload, err := checkFrame(frame, start)
		if err != nil && j > 0 {
			// Return the intact records before it: the next read
			// starts at the damaged one and gets the error alone.
			return dst[:w], j, nil
		}
		if err != nil {
			return dst[:base], 0, fmt.Errorf("read offset %d: %w", offset+uint64(j), err)
		}
		w += copy(dst[w:], payload)
		r += len(frame)
	}
	return dst[:w], m, nil
}

// LowestOffset returns the offset of the oldest record. On an empty log it
// returns the offset the next record will get.
func (l *Log) LowestOffset() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	return l.segments[0].base, nil
}

// HighestOffset returns the offset of the newest record, or ErrEmpty when
// the log holds none (when it is new, or truncated up to its end).
func (l *Log) HighestOffset() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	next := l.active().next()
	if next == l.segments[0].base {
		return 0, ErrEmpty
	}
	return next - 1, nil
}

// NextOffset returns the offset the next appended record will get. It is 0
// after Close.
func (l *Log) NextOffset() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0
	}
	return l.active().next()
}

// Stats summarises the log.
type Stats struct {
	// Segments is the number of segments, the active one included.
	Segments int
	// Bytes is the total size of the stores.
	Bytes uint64
	// LowestOffset is the offset of the oldest record (see Log.LowestOffset).
	LowestOffset uint64
	// NextOffset is the offset the next record will get.
	NextOffset uint64
}

// Stats returns a summary of the log, all of it from one moment.
func (l *Log) Stats() Stats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return Stats{}
	}
	st := Stats{Segments: len(l.segments), LowestOffset: l.segments[0].base, NextOffset: l.active().next()}
	for _, s := range l.segments {
		st.Bytes += s.store.size
	}
	return st
}

// TruncateFront deletes every segment whose records are all below lowest. Since
// whole segments go, records below lowest may remain. When every record is
// below lowest the active segment goes too and an empty one takes its place
// at the same next offset: offsets are never reused. A lowest beyond
// NextOffset gives ErrOffsetOutOfRange.
func (l *Log) TruncateFront(lowest uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	next := l.active().next()
	if lowest > next {
		return fmt.Errorf("%w: truncate to %d, beyond the next offset %d", ErrOffsetOutOfRange, lowest, next)
	}
	if a := l.active(); lowest == next && a.index.n > 0 {
		// Every record goes: start a fresh active segment first, so that
		// the log always has one.
		s, _, err := openSegment(l.dir, next, l.config.Segment.MaxIndexBytes, l.config.Segment.MaxStoreBytes, true)
		if err != nil {
			return err
		}
		if err := l.seal(a); err != nil {
			s.remove()
			return err
		}
		// The new segment must be durable before the old ones go: if only
		// the removals survived a power loss, the log would start again
		// at an old base and reuse offsets.
		if err := syncDir(l.dir); err != nil {
			s.remove()
			return err
		}
		l.segments = append(l.segments, s)
	}
	var errs []error
	keep := l.segments[:0]
	for i, s := range l.segments {
		if i < len(l.segments)-1 && l.segments[i+1].base <= lowest {
			if err := s.remove(); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		keep = append(keep, s)
	}
	clear(l.segments[len(keep):])
	l.segments = keep
	errs = append(errs, syncDir(l.dir))
	return errors.Join(errs...)
}

// Reader returns a reader of the raw bytes of every store, oldest first, as
// they are at the time of the call: the frames described in the package
// documentation. It fails if the log is truncated or closed while it reads.
func (l *Log) Reader() io.Reader {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return errReader{ErrClosed}
	}
	readers := make([]io.Reader, len(l.segments))
	for i, s := range l.segments {
		readers[i] = io.NewSectionReader(s.store.file, 0, int64(s.store.size))
	}
	return io.MultiReader(readers...)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// Close syncs and closes every segment, cutting the active index to size so
// that the next NewLog trusts it without a scan. It is safe to call twice;
// every other method then returns ErrClosed.
func (l *Log) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		l.mu.Lock()
		defer l.mu.Unlock()
		l.closed = true
		err = errors.Join(l.closeSegments(), l.unlock())
		l.syncMu.Lock()
		l.syncCond.Broadcast()
		l.syncMu.Unlock()
	})
	return err
}

// unlock releases the directory: closing the file drops its flock.
func (l *Log) unlock() error {
	if l.lock == nil {
		return nil
	}
	err := l.lock.Close()
	l.lock = nil
	return err
}

func (l *Log) closeSegments() error {
	var errs []error
	for _, s := range l.segments {
		errs = append(errs, s.close())
	}
	l.segments = nil
	return errors.Join(errs...)
}

// Remove closes the log and deletes its directory.
func (l *Log) Remove() error {
	if err := l.Close(); err != nil {
		return err
	}
	if err := os.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("remove log: %w", err)
	}
	return nil
}

// Reset deletes every record and starts the log again, empty, at
// Config.Segment.InitialOffset. Unlike TruncateFront it may reuse offsets; it is
// meant for tests and for discarding a log on purpose.
func (l *Log) Reset() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	var errs []error
	for _, s := range l.segments {
		errs = append(errs, s.remove())
	}
	l.segments = nil
	if err := errors.Join(errs...); err != nil {
		l.closed = true
		return fmt.Errorf("reset: %w", err)
	}
	s, _, err := openSegment(l.dir, l.config.Segment.InitialOffset, l.config.Segment.MaxIndexBytes, l.config.Segment.MaxStoreBytes, true)
	if err != nil {
		l.closed = true
		return fmt.Errorf("reset: %w", err)
	}
	l.segments = []*segment{s}
	l.syncMu.Lock()
	l.synced, l.syncErr = s.next(), nil
	l.syncMu.Unlock()
	return syncDir(l.dir)
}

// Dir returns the directory the log lives in.
func (l *Log) Dir() string { return filepath.Clean(l.dir) }

// SyncMode returns the sync mode the log was opened with, so that a server
// committing on the log's behalf follows the same policy.
func (l *Log) SyncMode() SyncMode { return l.config.Sync.Mode }
