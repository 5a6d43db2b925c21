package segment

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// NewLog opens the log in dir, creating the directory and a first segment
// at Config.Segment.InitialOffset if it holds none. Existing segments are
// checked: the active one's torn tail is cut and any index that does not match
// its store is rebuilt; Recovered reports what recovery did.
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
	l := &Log{dir: dir, config: c, lock: lock}
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

// open loads the metadata and the segments found in dir, or creates them.
func (l *Log) open() error {
	bases, err := segmentBases(l.dir)
	if err != nil {
		return err
	}
	m, found, err := readMeta(l.dir)
	if err != nil {
		return err
	}
	if len(bases) == 0 {
		// Offsets below the low-water mark were given out once.
		bases = []uint64{max(l.config.Segment.InitialOffset, m.low)}
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
			// The message predates the name recovery; log pipelines match
			// it, so it stays.
			l.config.Logger.Warn("segment repaired", "store", rec.Store, "records", rec.Records,
				"index_rebuilt", rec.IndexRebuilt, "truncated_bytes", rec.TruncatedBytes, "damaged_bytes", rec.DamagedBytes,
				"time_index_rebuilt", rec.TimeIndexRebuilt)
		} else if s.timesRebuilt {
			l.config.Logger.Info("time index rebuilt", "store", s.store.name, "records", s.index.n)
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
	if err := l.openMeta(m, found); err != nil {
		l.closeSegments()
		return err
	}
	l.lastTS = l.newestTimestamp()
	// Last, so that on a nearly full disk the files that the log can do
	// without do not take the room its active index needs.
	for _, s := range l.segments {
		l.keepTimes(s)
	}
	return nil
}

// openMeta takes the metadata file's content, found or not, once the
// segments are open. A directory without one is new or of format version
// 1, which differs from version 2 only in lacking it: it is written now,
// and the segments are used as they are, since a version 1 store reads as
// batches of one record.
func (l *Log) openMeta(m meta, found bool) error {
	first, next := l.segments[0].base, l.active().next()
	if !found {
		var err error
		if m, err = newMeta(first); err != nil {
			return err
		}
		if next == first && l.config.Segment.ID != (LogID{}) {
			m.id = l.config.Segment.ID
		}
		if err := writeMeta(l.dir, m); err != nil {
			return err
		}
		if next > first {
			l.config.Logger.Info("log directory upgraded", "from_version", 1, "to_version", FormatVersion, "log_id", m.id.String())
		}
	}
	// Segments wholly below the mark may outlive a crash of TruncateFront,
	// and the mark never lies below the first segment.
	m.low = max(m.low, first)
	if m.low > next {
		return fmt.Errorf("%w: %s: the low-water mark %d is beyond the log's next offset %d: records "+
			"the log held are missing", ErrCorrupt, filepath.Join(l.dir, metaName), m.low, next)
	}
	l.meta = m
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
