package local

import "github.com/evlog/evlog/service"

// OffsetAtTime finds the first committed record at or after ts, in unix
// nanoseconds, through the segment log's time index. Records appended but
// not yet committed do not count: when the first record at or after ts is
// one of them, or there is none, it returns the committed offset. A read
// from there may then return uncommitted records older than ts once they
// commit, which only a read racing with appends of the same moment meets.
func (l *Log) OffsetAtTime(ts int64) (uint64, error) {
	off, err := l.seg.OffsetAtTime(ts)
	if err != nil {
		return 0, service.SegmentError(err)
	}
	return min(off, l.committed.Load()), nil
}
