package segment

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/evlog/evlog/segment/internal/frame"
)

// RetentionPolicy says which sealed segments ApplyRetention deletes. The
// zero value keeps everything. Only whole sealed segments go, oldest
// first, and never the active one, so a log may hold more than a limit
// allows while its active segment fills.
type RetentionPolicy struct {
	// MaxBytes, when not 0, bounds the total size of the stores: the
	// oldest sealed segments go while the total exceeds it.
	MaxBytes uint64
	// MaxAge, when not 0, is how long a sealed segment is kept after its
	// newest record: it goes once the timestamp of its last record is
	// older than MaxAge. A segment whose last record cannot be read
	// (a damaged tail) is judged by its store file's modification time.
	MaxAge time.Duration
}

// Off says the policy deletes nothing.
func (p RetentionPolicy) Off() bool { return p.MaxBytes == 0 && p.MaxAge <= 0 }

// Removal is what a TruncateFront or an ApplyRetention took from the log.
type Removal struct {
	// From and To are the low-water mark before and after: the records
	// from From up to, not including, To became unreadable. They are
	// equal when none did.
	From, To uint64
	// Segments is how many segments were deleted, and Bytes the size of
	// their stores.
	Segments int
	Bytes    uint64
	// Reason is empty for a TruncateFront; for ApplyRetention it names
	// the limits that applied, "age 24h0m0s", "bytes 1073741824" or both
	// separated by a comma.
	Reason string
}

// Empty says that no record became unreadable.
func (r Removal) Empty() bool { return r.To == r.From }

// segmentInfo is what the retention policy judges a segment by.
type segmentInfo struct {
	bytes uint64
	// newest is the time of the segment's newest record; zero for a
	// segment with none, which any age limit lets go.
	newest time.Time
}

// retentionCut returns how many of the oldest segments of segs, which
// are in offset order and end with the active one, the policy deletes at
// now, and the limits that decided it. Deletion stops at the first
// segment the policy keeps, since only a prefix of the log can go, and
// never reaches the last (active) segment.
func retentionCut(segs []segmentInfo, p RetentionPolicy, now time.Time) (n int, reason string) {
	var total uint64
	for _, s := range segs {
		total += s.bytes
	}
	var bySize, byAge bool
	for ; n < len(segs)-1; n++ {
		s := segs[n]
		size := p.MaxBytes > 0 && total > p.MaxBytes
		age := p.MaxAge > 0 && now.Sub(s.newest) > p.MaxAge
		if !size && !age {
			break
		}
		bySize, byAge = bySize || size, byAge || age
		total -= s.bytes
	}
	var why []string
	if byAge {
		why = append(why, "age "+p.MaxAge.String())
	}
	if bySize {
		why = append(why, fmt.Sprintf("bytes %d", p.MaxBytes))
	}
	return n, strings.Join(why, ", ")
}

// ApplyRetention deletes the oldest sealed segments that policy p lets go
// at now, through TruncateFront: the low-water mark moves to the base of
// the first segment kept, and is persisted, before any file goes. It
// returns what went, an empty Removal when nothing did. Config.OnRemove
// hears of a non-empty Removal.
func (l *Log) ApplyRetention(p RetentionPolicy, now time.Time) (Removal, error) {
	if p.Off() {
		return Removal{}, nil
	}
	l.mu.Lock()
	r, err := l.applyRetention(p, now)
	l.mu.Unlock()
	l.reportRemoval(r)
	return r, err
}

func (l *Log) applyRetention(p RetentionPolicy, now time.Time) (Removal, error) {
	if l.closed {
		return Removal{}, ErrClosed
	}
	n, reason := retentionCut(l.retentionInfos(p), p, now)
	if n == 0 {
		return Removal{}, nil
	}
	r, err := l.truncateFront(l.segments[n].base)
	r.Reason = reason
	l.forgetNewest()
	return r, err
}

// RetentionTarget returns the low-water mark that ApplyRetention would
// move the log to under p at now, the base of the first segment p keeps,
// and the limits that decided it, without removing anything. The reason
// is empty, and the offset 0, when p lets nothing go. A replicated log
// proposes the truncation to that offset, so that every replica removes
// the same records.
func (l *Log) RetentionTarget(p RetentionPolicy, now time.Time) (uint64, string, error) {
	if p.Off() {
		return 0, "", nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, "", ErrClosed
	}
	n, reason := retentionCut(l.retentionInfos(p), p, now)
	if n == 0 {
		return 0, "", nil
	}
	return l.segments[n].base, reason, nil
}

// retentionInfos is what p judges the segments by. The caller holds mu.
func (l *Log) retentionInfos(p RetentionPolicy) []segmentInfo {
	infos := make([]segmentInfo, len(l.segments))
	for i, s := range l.segments {
		infos[i].bytes = s.store.size
		if p.MaxAge > 0 && i < len(l.segments)-1 {
			infos[i].newest = l.newestOf(s)
		}
	}
	return infos
}

// newestOf returns the time of sealed segment s's last record, which
// does not change once s is sealed, so it is read once and remembered.
// The caller holds mu.
func (l *Log) newestOf(s *segment) time.Time {
	if t, ok := l.newest[s.base]; ok {
		return t
	}
	t := s.newestTime()
	if l.newest == nil {
		l.newest = make(map[uint64]time.Time)
	}
	l.newest[s.base] = t
	return t
}

// forgetNewest drops the remembered times of segments that are gone.
func (l *Log) forgetNewest() {
	keep := make(map[uint64]bool, len(l.segments))
	for _, s := range l.segments {
		keep[s.base] = true
	}
	for base := range l.newest {
		if !keep[base] {
			delete(l.newest, base)
		}
	}
}

// newestTime returns the timestamp of s's last record, the zero time when
// s holds none, and the store file's modification time, the last time
// anything was written to it, when that record cannot be read. When not
// even that is known it returns the present, so that the segment is kept
// for MaxAge from when it was first judged rather than deleted on a guess.
func (s *segment) newestTime() time.Time {
	if s.index.n == 0 {
		return time.Time{}
	}
	if ts, err := s.lastTimestamp(); err == nil {
		return time.Unix(0, ts)
	}
	fi, err := os.Stat(s.store.name)
	if err != nil {
		return time.Now()
	}
	return fi.ModTime()
}

// lastTimestamp reads and checks s's last record and returns its
// timestamp.
func (s *segment) lastTimestamp() (int64, error) {
	last := s.index.n - 1
	start, end, err := s.bounds(last)
	if err != nil {
		return 0, err
	}
	b := make([]byte, end-start)
	if err := s.store.readAt(b, start); err != nil {
		return 0, err
	}
	payload, err := frame.Check(b, start)
	if err != nil {
		return 0, err
	}
	rec, err := decodeRecord(payload, s.base+last)
	if err != nil {
		return 0, err
	}
	return rec.Timestamp, nil
}

// reportRemoval tells Config.OnRemove of r unless it is empty. It is
// called with mu released.
func (l *Log) reportRemoval(r Removal) {
	if !r.Empty() && l.config.OnRemove != nil {
		l.config.OnRemove(r)
	}
}
