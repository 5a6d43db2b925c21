package segment

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/tysonmote/gommap"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

// Segment statuses in a CheckReport.
const (
	// StatusOK: every record reads back intact and the index matches the
	// store.
	StatusOK = "ok"
	// StatusRepaired: Check repaired what it found; nothing is left to do.
	StatusRepaired = "repaired"
	// StatusDamaged: damage remains, either records that cannot be read
	// or files that the log refuses to open.
	StatusDamaged = "damaged"
)

// maxProblems bounds the problems listed for one segment; the rest are
// counted.
const maxProblems = 10

// CheckOptions configures Check.
type CheckOptions struct {
	// Repair rebuilds every index that does not match its store and cuts
	// the torn tail of the active segment's store, as NewLog would. It never
	// deletes records that may be intact: a damaged sealed segment, or a
	// active segment with intact records after its damage, is left as it
	// is and reported. Without Repair, Check opens every file read-only.
	Repair bool
	// Progress, when not nil, is called as the stores are read, with the
	// bytes checked so far and the total, for a progress bar.
	Progress func(done, total int64)
}

// CheckReport is what Check found in a log directory.
type CheckReport struct {
	// Dir is the directory checked.
	Dir string `json:"dir"`
	// Segments holds one report a segment, in offset order.
	Segments []SegmentReport `json:"segments"`
	// Records is the number of records that read back intact.
	Records uint64 `json:"records"`
	// Bytes is the total size of the stores.
	Bytes uint64 `json:"bytes"`
	// LowestOffset and NextOffset bound the log as it reads: the
	// low-water mark (at least the first segment's base) and the offset
	// after the active segment's last record.
	LowestOffset uint64 `json:"lowest_offset"`
	NextOffset   uint64 `json:"next_offset"`
	// Version is the directory's format version: 1 for a directory with
	// segments but no metadata file, which opening the log upgrades, and 0
	// for one that holds no log.
	Version uint32 `json:"version"`
	// LogID is the log's id in hex, empty for a version 1 directory.
	LogID string `json:"log_id,omitempty"`
	// Damaged counts the segments whose status is StatusDamaged.
	Damaged int `json:"damaged"`
	// Repaired counts the segments whose status is StatusRepaired.
	Repaired int `json:"repaired"`
	// Notes are findings about the directory that are not damage.
	Notes []string `json:"notes,omitempty"`
}

// OK reports whether no damage remains.
func (r CheckReport) OK() bool { return r.Damaged == 0 }

// SegmentReport is what Check found in one segment.
type SegmentReport struct {
	// BaseOffset is the offset of the segment's first record.
	BaseOffset uint64 `json:"base_offset"`
	// Store is the path of the segment's store.
	Store string `json:"store"`
	// Bytes is the size of the store.
	Bytes uint64 `json:"bytes"`
	// Records is the number of records that read back intact.
	Records uint64 `json:"records"`
	// NextOffset is the offset after the segment's last record as the log
	// reads it: where the next segment must begin.
	NextOffset uint64 `json:"next_offset"`
	// Status is StatusOK, StatusRepaired or StatusDamaged.
	Status string `json:"status"`
	// Problems describes the damage found, before any repair, one
	// problem a line.
	Problems []string `json:"problems,omitempty"`
	// FirstBad is where the first damaged record is, when a problem
	// concerns a record.
	FirstBad *Location `json:"first_bad,omitempty"`
	// Notes are findings that are not damage, such as an index left
	// preallocated by a crash, which NewLog rebuilds.
	Notes []string `json:"notes,omitempty"`
	// Repairs lists what Repair changed.
	Repairs []string `json:"repairs,omitempty"`
	// Advice says what an operator can do about damage that remains.
	Advice string `json:"advice,omitempty"`
}

// Location is a record's place in the log.
type Location struct {
	// Offset is the record's offset.
	Offset uint64 `json:"offset"`
	// Position is where its frame starts, or should start, in the store.
	Position uint64 `json:"position"`
}

// Check verifies the log in dir, which no process may have open: every
// frame's length and CRC, that every record decodes and carries the offset
// its place implies, that each index matches its store (entry count,
// relative offsets, positions; cut to size, or preallocated with zeros as
// a crash leaves it), and that each segment begins where the one before it
// ends. It reads what NewLog and Read would: an index that NewLog trusts is
// followed record by record, any other is judged against the store.
//
// Damage is reported, not returned: the error is for a directory that
// cannot be checked at all. With opts.Repair, see CheckOptions.
func Check(dir string, opts CheckOptions) (CheckReport, error) {
	rep := CheckReport{Dir: dir}
	fi, err := os.Stat(dir)
	if err != nil {
		return rep, fmt.Errorf("check: %w", err)
	}
	if !fi.IsDir() {
		return rep, fmt.Errorf("check: %s is not a directory", dir)
	}
	// A running log appends and cuts its files: checking them under it
	// would report its work in progress as damage, and repairing them
	// would fight it.
	lock, err := lockDir(dir)
	switch {
	case errors.Is(err, ErrLocked):
		return rep, fmt.Errorf("check: %w; stop the process first", err)
	case err != nil && !opts.Repair && (errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)):
		// A read-only copy cannot be locked, and needs no lock to be read.
	case err != nil:
		return rep, fmt.Errorf("check: %w", err)
	}
	if lock != nil {
		defer lock.Close()
	}
	bases, err := segmentBases(dir)
	if err != nil {
		return rep, fmt.Errorf("check: %w", err)
	}
	m, err := checkMeta(dir, len(bases) > 0, &rep)
	if err != nil {
		return rep, err
	}
	p := &progress{report: opts.Progress}
	for _, base := range bases {
		fi, err := os.Stat(segmentName(dir, base, storeSuffix))
		if err != nil {
			return rep, fmt.Errorf("check: %w", err)
		}
		p.total += fi.Size()
	}
	p.add(0)
	checks := make([]*segmentCheck, len(bases))
	for i, base := range bases {
		c, err := checkSegment(dir, base, i == len(bases)-1, p)
		if err != nil {
			return rep, err
		}
		if opts.Repair && c.fix {
			if c, err = repairSegment(dir, c); err != nil {
				return rep, err
			}
		}
		checks[i] = c
	}
	checkContinuity(checks)
	checkLowWater(dir, m.low, checks)
	for i, c := range checks {
		c.finish()
		r := c.report
		rep.Segments = append(rep.Segments, r)
		rep.Records += r.Records
		rep.Bytes += r.Bytes
		switch r.Status {
		case StatusDamaged:
			rep.Damaged++
		case StatusRepaired:
			rep.Repaired++
		}
		if i == 0 {
			rep.LowestOffset = max(r.BaseOffset, m.low)
		}
		rep.NextOffset = r.NextOffset
	}
	stray, err := strayIndexes(dir, bases)
	rep.Notes = append(rep.Notes, stray...)
	return rep, err
}

// segmentCheck is the state of one segment's check.
type segmentCheck struct {
	report   SegmentReport
	active   bool // the log appends to this segment
	trusted  bool // NewLog trusts the index as it is
	indexBad bool // the index does not match the store
	extra    int  // problems beyond maxProblems
	problems int  // problems found, listed or not
	// storeDamaged says the store holds bytes that are not intact
	// records; tornAt is where the scan of the store stopped.
	storeDamaged bool
	tornAt       uint64
	// fix says Repair can set the segment right without deleting any
	// record that may be intact.
	fix bool
	// timesBad says the time index file does not match the store.
	timesBad bool
	// advice collects what to tell an operator, by kind.
	restore, cutWarning, foreign bool
}

func (c *segmentCheck) problem(at *Location, format string, args ...any) {
	c.problems++
	if len(c.report.Problems) < maxProblems {
		c.report.Problems = append(c.report.Problems, fmt.Sprintf(format, args...))
	} else {
		c.extra++
	}
	if at != nil && (c.report.FirstBad == nil || at.Offset < c.report.FirstBad.Offset) {
		c.report.FirstBad = at
	}
}

// listed returns the problems, with a last line counting those left out.
func (c *segmentCheck) listed() []string {
	if c.extra == 0 {
		return c.report.Problems
	}
	return append(slices.Clip(c.report.Problems), fmt.Sprintf("and %d more problems", c.extra))
}

// finish sets the status and the advice.
func (c *segmentCheck) finish() {
	r := &c.report
	r.Problems, c.extra = c.listed(), 0
	switch {
	case c.problems > 0:
		r.Status = StatusDamaged
	case len(r.Repairs) > 0:
		r.Status = StatusRepaired
	default:
		r.Status = StatusOK
	}
	if r.Status != StatusDamaged {
		return
	}
	advice := []string{c.intactAdvice()}
	switch {
	case c.fix && c.active && c.tornAt < r.Bytes:
		advice = append(advice, fmt.Sprintf("Run evlog check --repair: it cuts only the damaged tail, "+
			"the %d bytes from position %d, which hold no intact record.", r.Bytes-c.tornAt, c.tornAt))
	case c.fix:
		advice = append(advice, "Run the check again with repair (evlog check --repair) to fix it.")
	}
	if c.cutWarning {
		advice = append(advice, fmt.Sprintf("Copy %s aside before changing anything: intact records "+
			"follow its damage, so the log refuses to open it rather than cut them, and a repair "+
			"leaves it as it is.", r.Store))
	}
	if c.foreign {
		advice = append(advice, "Frames with valid checksums hold no record or another offset's record: "+
			"the file was probably copied from another log or renamed; put the right file in its place.")
	}
	if c.restore {
		advice = append(advice, fmt.Sprintf("Reads of the damaged records fail as corrupt while the "+
			"rest stay readable. To get the damaged records back, restore %s from a backup or replica.", r.Store))
	}
	r.Advice = strings.Join(advice, " ")
}

// intactAdvice says which of the segment's records read back intact and
// that nothing Check does deletes them.
func (c *segmentCheck) intactAdvice() string {
	r := &c.report
	const keep = ": a repair keeps every intact record and deletes none."
	first := r.NextOffset
	if r.FirstBad != nil && r.FirstBad.Offset >= r.BaseOffset {
		first = min(first, r.FirstBad.Offset)
	}
	before := first - r.BaseOffset
	if before > r.Records {
		return fmt.Sprintf("%d records of this segment read back intact%s", r.Records, keep)
	}
	after := r.Records - before
	switch {
	case before > 0 && after > 0:
		return fmt.Sprintf("Records at offsets %d to %d are intact, and %d more after the damage%s",
			r.BaseOffset, first-1, after, keep)
	case before > 0:
		return fmt.Sprintf("Records at offsets %d to %d are intact%s", r.BaseOffset, first-1, keep)
	case after > 0:
		return fmt.Sprintf("%d records after the damage at offset %d are intact%s", after, first, keep)
	}
	return "No record of this segment reads back intact."
}

// checkSegment checks one segment read-only. An error means the segment
// could not be checked at all; damage goes into the report.
func checkSegment(dir string, base uint64, active bool, p *progress) (*segmentCheck, error) {
	name := segmentName(dir, base, storeSuffix)
	c := &segmentCheck{active: active, report: SegmentReport{BaseOffset: base, Store: name, NextOffset: base}}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	st := &store{file: f, name: name, size: uint64(fi.Size())}
	c.report.Bytes = st.size
	ib, err := os.ReadFile(segmentName(dir, base, indexSuffix))
	noIndex := errors.Is(err, os.ErrNotExist)
	if err != nil && !noIndex {
		return nil, fmt.Errorf("check: %w", err)
	}
	// The index as NewLog maps it, read-only: openIndex drops a partial
	// last entry.
	idx := &index{name: segmentName(dir, base, indexSuffix), mmap: gommap.MMap(ib[:len(ib)-len(ib)%entryWidth])}
	s := &segment{base: base, store: st, index: idx}

	d, err := diagnose(s, true, c.active)
	if err == nil {
		var bad map[int]error
		var stamps []int64
		if bad, stamps, err = verifyRecords(s, d.positions, d.end, p); err == nil {
			c.tornAt = d.end
			c.storeDamaged = d.damaged(s) || len(bad) > 0
			c.foreign = len(bad) > 0
			if len(ib)%entryWidth != 0 {
				c.problem(nil, "index is %d bytes, not a whole number of %d-byte entries", len(ib), entryWidth)
				c.indexBad = true
			}
			if c.trusted = d.trusted; c.trusted {
				c.followIndex(s, d.positions, d.end, bad, noIndex)
			} else {
				c.judgeIndex(s, d, bad, noIndex)
			}
			err = c.checkTimes(dir, s, d.positions, stamps, bad)
		}
	}
	if err != nil {
		// An I/O error is damage of its own kind: report it and go on
		// with the other segments.
		c.problem(nil, "store unreadable: %v", err)
		c.storeDamaged, c.restore = true, true
	}
	p.endSegment(st.size)
	return c, nil
}

// verifyRecords decodes every frame the scan found intact and checks that
// it holds the record of its offset, as Read does. It returns the failures
// by frame number, and the timestamp of every record that decodes.
func verifyRecords(s *segment, positions []uint64, end uint64, p *progress) (map[int]error, []int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(s.store.file, 0, int64(end)), 1<<20)
	var b []byte
	var bad map[int]error
	stamps := make([]int64, len(positions))
	for i, pos := range positions {
		stop := end
		if i+1 < len(positions) {
			stop = positions[i+1]
		}
		b = slices.Grow(b[:0], int(stop-pos))[:stop-pos]
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, nil, fmt.Errorf("read %s at %d: %w", s.store.name, pos, err)
		}
		payload, err := frame.Check(b, pos)
		var r *messages.Record
		if err == nil {
			r, err = decodeRecord(payload, s.base+uint64(i))
		}
		if err == nil {
			stamps[i] = r.Timestamp
		}
		if err != nil {
			if bad == nil {
				bad = map[int]error{}
			}
			bad[i] = err
		}
		p.add(stop - pos)
	}
	return bad, stamps, nil
}

// followIndex checks a segment whose index NewLog trusts: every entry is
// read as Read reads it. Frames the scan already verified are not read
// twice.
func (c *segmentCheck) followIndex(s *segment, positions []uint64, end uint64, bad map[int]error, noIndex bool) {
	n := s.index.capacity()
	s.index.n, s.end = n, s.store.size
	c.report.NextOffset = s.base + n
	for k := range n {
		off := s.base + k
		rel, pos := s.index.entry(k)
		scanned := k < uint64(len(positions))
		entryBad := rel != uint32(k) || scanned && pos != positions[k]
		if entryBad {
			at := &Location{Offset: off, Position: pos}
			if scanned {
				at.Position = positions[k]
			}
			c.problem(at, "index entry %d is (relative offset %d, position %d), want (%d, %d)", k, rel, pos, k, at.Position)
			c.indexBad = true
		}
		// Read the record as Read does, unless the scan verified the very
		// frame the index gives and the entry is right. Reads check the
		// relative offset too, so a record whose entry has only that
		// wrong does not read.
		stop := s.store.size
		if k+1 < n {
			_, stop = s.index.entry(k + 1)
		}
		err := bad[int(k)]
		if entryBad || !scanned || pos != positions[k] || stop != frameEnd(positions, end, int(k)) {
			if err = readEntry(s, k); err != nil {
				err = fmt.Errorf("read offset %d: %w", off, err)
			}
		}
		switch {
		case err == nil:
			c.report.Records++
		case !entryBad:
			c.problem(&Location{Offset: off, Position: pos}, "%v", err)
		}
	}
	if noIndex {
		c.report.Notes = append(c.report.Notes, "index file missing; opening the log creates it")
		c.fix = true
	}
	switch {
	case !c.storeDamaged && c.indexBad:
		c.fix = true
	case c.storeDamaged:
		// The last frame is intact, so records follow the damage:
		// nothing can be cut.
		c.restore = true
		if end < s.store.size && c.problems == 0 {
			c.problem(&Location{Offset: s.base + uint64(len(positions)), Position: end},
				"store damaged at position %d: %v", end, frameDamage(s.store, end))
		}
	}
}

// frameEnd is where the scan found frame k to end.
func frameEnd(positions []uint64, end uint64, k int) uint64 {
	if k+1 < len(positions) {
		return positions[k+1]
	}
	return end
}

// readEntry reads relative entry k as Read does.
func readEntry(s *segment, k uint64) error {
	start, end, err := s.bounds(k)
	if err != nil {
		return err
	}
	b := make([]byte, end-start)
	if err := s.store.readAt(b, start); err != nil {
		return err
	}
	payload, err := frame.Check(b, start)
	if err != nil {
		return err
	}
	_, err = decodeRecord(payload, s.base+k)
	return err
}

// judgeIndex checks a segment whose index NewLog would rebuild from the
// store: the records are those the scan found, and the index is compared
// with them.
func (c *segmentCheck) judgeIndex(s *segment, d *diagnosis, bad map[int]error, noIndex bool) {
	c.report.NextOffset = s.base + uint64(len(d.positions))
	for i, pos := range d.positions {
		if err := bad[i]; err != nil {
			c.problem(&Location{Offset: s.base + uint64(i), Position: pos}, "%v", err)
			continue
		}
		c.report.Records++
	}
	c.judgeEntries(s, d.positions, noIndex)
	spare, past := c.judgeSpareEntries(s, d)
	if d.damaged(s) {
		c.judgeTail(s, d, len(bad) > 0)
	}
	if free := s.store.free; free > 0 {
		c.report.Notes = append(c.report.Notes, fmt.Sprintf("%d bytes of zeros after the last record: free space "+
			"of a store preallocated for appends (as a crash leaves it); opening the log cuts it", free))
	}
	switch {
	case len(bad) > 0:
		c.restore = true
	case d.damaged(s):
		c.fix = !c.restore
	default:
		// The store is intact: rebuilding the index fixes the rest, and
		// cuts an index that is merely preallocated, or a store's free
		// space.
		c.fix = c.indexBad || spare+past > 0 || noIndex || s.store.free > 0
	}
}

// judgeEntries compares the index entries of the records the scan found
// with their positions.
func (c *segmentCheck) judgeEntries(s *segment, positions []uint64, noIndex bool) {
	n := s.index.capacity()
	for k := range min(n, uint64(len(positions))) {
		if rel, pos := s.index.entry(k); rel != uint32(k) || pos != positions[k] {
			c.problem(&Location{Offset: s.base + k, Position: positions[k]},
				"index entry %d is (relative offset %d, position %d), want (%d, %d)", k, rel, pos, k, positions[k])
			c.indexBad = true
		}
	}
	if have := uint64(len(positions)); n < have {
		at := &Location{Offset: s.base + n, Position: positions[n]}
		if noIndex {
			c.problem(at, "index file missing, the store holds %d records", have)
		} else {
			c.problem(at, "index holds %d entries, the store %d records", n, have)
		}
		c.indexBad = true
	}
}

// judgeSpareEntries judges the entries past the store's records: zeros
// where a crash left the index preallocated (spare), positions past the
// scan's end for records lost or damaged (past), anything else is garbage.
func (c *segmentCheck) judgeSpareEntries(s *segment, d *diagnosis) (spare, past uint64) {
	n := s.index.capacity()
	for k := uint64(len(d.positions)); k < n; k++ {
		rel, pos := s.index.entry(k)
		switch {
		case rel == 0 && pos == 0:
			spare++
		case pos < d.end:
			if !c.indexBad {
				c.problem(&Location{Offset: s.base + k, Position: pos},
					"index entry %d is (relative offset %d, position %d), inside the store's records", k, rel, pos)
			}
			c.indexBad = true
		default:
			past++
		}
	}
	intactPast := uint64(len(d.intactPast))
	switch {
	case c.indexBad:
	case spare > 0:
		// Preallocated: a crash left it so, and entries past the end are
		// of records that a power loss took before they were synced.
		note := fmt.Sprintf("index not cut to size (as a crash leaves it): %d entries for %d records", n, len(d.positions))
		if past > intactPast {
			note += fmt.Sprintf(", %d of them for records past the store's intact end", past-intactPast)
		}
		c.report.Notes = append(c.report.Notes, note+"; opening the log rebuilds it")
	case past > intactPast && !d.damaged(s):
		// Cut to size, so closed, yet the store lacks records it lists.
		c.problem(&Location{Offset: s.base + uint64(len(d.positions)), Position: d.end},
			"index lists %d records past the end of the store: records are missing", past)
		c.indexBad = true
	}
	return spare, past
}

// judgeTail reports the bytes after the store's last intact frame: a torn
// tail, which recovery cuts, or damage that intact records or records that
// do not decode show is not one.
func (c *segmentCheck) judgeTail(s *segment, d *diagnosis, foreign bool) {
	at := &Location{Offset: s.base + uint64(len(d.positions)), Position: d.end}
	why := frameDamage(s.store, d.end)
	if d.pending > 0 {
		then := "the store ends there"
		if d.pendingEnd < s.store.size {
			then = frameDamage(s.store, d.pendingEnd).Error()
		}
		why = fmt.Errorf("%w: a batch cut short: %d intact records of a batch whose last record is "+
			"missing at position %d (%s)", ErrCorrupt, d.pending, d.pendingEnd, then)
	}
	switch {
	case c.active && len(d.intactPast) == 0 && !foreign:
		c.problem(at, "torn tail: %d bytes after the last intact record, from position %d: %v",
			s.store.size-d.end, d.end, why)
	default:
		c.problem(at, "store damaged from position %d (offset %d on, %d bytes): %v",
			d.end, at.Offset, s.store.size-d.end, why)
		c.restore = true
	}
	if len(d.intactPast) > 0 {
		if c.active {
			c.problem(nil, "%d intact records after the damage are out of reach: the log refuses to open "+
				"rather than cut them at the damage", len(d.intactPast))
		} else {
			c.problem(nil, "%d intact records after the damage are out of reach: opening the log rebuilds "+
				"the index from the store, which stops at the damage", len(d.intactPast))
		}
		c.cutWarning = c.active
	}
}

// frameDamage says why the frame at pos is not intact.
func frameDamage(s *store, pos uint64) error {
	if _, err := s.frameAt(pos); err != nil {
		return err
	}
	return fmt.Errorf("%w: frame at %d is intact but the scan stopped there", ErrCorrupt, pos)
}

// repairSegment rebuilds the segment's index from its store, cutting the
// store's torn tail when it is the active segment, and checks it again.
func repairSegment(dir string, c *segmentCheck) (*segmentCheck, error) {
	base := c.report.BaseOffset
	// An index that agrees with its store at both ends is trusted as it
	// is: empty it, so that opening the segment rebuilds all of it. The
	// store is the truth, and a crash here leaves an index that NewLog
	// rebuilds too.
	name := segmentName(dir, base, indexSuffix)
	if err := os.Truncate(name, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("repair: %w", err)
	}
	// A time index is trusted on its checksum and record count alone.
	if c.timesBad {
		if err := os.Remove(segmentName(dir, base, timeIndexSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("repair: %w", err)
		}
	}
	s, rec, err := openSegment(dir, base, 0, 0, c.active)
	if err != nil {
		return nil, fmt.Errorf("repair: %w", err)
	}
	n := s.index.n
	if s.timesDirty {
		if err := s.saveTimes(); err != nil {
			s.close()
			return nil, fmt.Errorf("repair: %w", err)
		}
	}
	if err := s.close(); err != nil {
		return nil, fmt.Errorf("repair: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("repair: %w", err)
	}
	after, err := checkSegment(dir, base, c.active, nil)
	if err != nil {
		return nil, err
	}
	r := &after.report
	if rec != nil && rec.TruncatedBytes > 0 {
		r.Repairs = append(r.Repairs, fmt.Sprintf("cut the torn tail: %d bytes from position %d", rec.TruncatedBytes, c.tornAt))
	}
	r.Repairs = append(r.Repairs, fmt.Sprintf("rebuilt the index from the store: %d entries", n))
	if c.timesBad {
		r.Repairs = append(r.Repairs, fmt.Sprintf("rebuilt the time index from the store: %d entries", len(s.times.entries)))
	}
	// Report what was found; what is still wrong comes after it.
	remaining := after.listed()
	r.Problems, r.FirstBad, r.Notes = c.listed(), c.report.FirstBad, c.report.Notes
	for _, p := range remaining {
		r.Problems = append(r.Problems, "after repair: "+p)
	}
	return after, nil
}

// checkContinuity checks that each segment begins where the one before it
// ends, as NewLog reads them.
func checkContinuity(checks []*segmentCheck) {
	for i := 1; i < len(checks); i++ {
		prev, c := checks[i-1], checks[i]
		next, base := prev.report.NextOffset, c.report.BaseOffset
		switch {
		case base < next:
			c.problem(&Location{Offset: base}, "begins at offset %d, inside the segment before it, which ends at %d: "+
				"the log refuses to open", base, next)
			c.fix = false
			c.restore = true
		case base > next && prev.storeDamaged:
			prev.problem(nil, "offsets %d to %d cannot be read", next, base-1)
		case base > next:
			c.problem(&Location{Offset: next}, "offsets %d to %d are missing: no segment holds them", next, base-1)
			c.restore = true
		}
	}
}

// checkMeta reads the metadata file of dir into rep. A damaged one is an
// error, not a finding to repair: the log id and the low-water mark it
// holds cannot be recovered from the segments, and the log refuses to open.
func checkMeta(dir string, segments bool, rep *CheckReport) (meta, error) {
	m, found, err := readMeta(dir)
	if err != nil {
		return meta{}, fmt.Errorf("check: %w", err)
	}
	if !found {
		if segments {
			rep.Version = 1
			rep.Notes = append(rep.Notes, fmt.Sprintf("no metadata file %s: format version 1, which opening "+
				"the log upgrades to version %d without rewriting any segment", metaName, FormatVersion))
		}
		return m, nil
	}
	rep.Version, rep.LogID = m.version, m.id.String()
	return m, nil
}

// checkLowWater checks that the low-water mark low does not pass the end
// of the log, as NewLog requires.
func checkLowWater(dir string, low uint64, checks []*segmentCheck) {
	if len(checks) == 0 {
		return
	}
	c := checks[len(checks)-1]
	if next := c.report.NextOffset; low > next {
		c.problem(nil, "the low-water mark %d in %s is beyond the log's next offset %d: records the log "+
			"held are missing, and the log refuses to open", low, filepath.Join(dir, metaName), next)
		c.fix = false
		c.restore = true
	}
}

// strayIndexes lists the index files without a store, which the log
// ignores.
func strayIndexes(dir string, bases []uint64) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	var notes []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), indexSuffix)
		if !ok || e.IsDir() || len(name) != len(filepath.Base(segmentName("", 0, ""))) {
			continue
		}
		if base, err := strconv.ParseUint(name, 10, 64); err == nil && !slices.Contains(bases, base) {
			notes = append(notes, fmt.Sprintf("%s: index without a store, which the log ignores", filepath.Join(dir, e.Name())))
		}
	}
	return notes, nil
}

// progress reports the bytes checked to a callback, at most every MiB.
// A nil *progress reports nothing.
type progress struct {
	report      func(done, total int64)
	done, total int64
	reported    int64
	// segment is what the current segment has added so far.
	segment uint64
}

func (p *progress) add(n uint64) {
	if p == nil {
		return
	}
	p.segment += n
	p.done += int64(n)
	if p.report != nil && (p.done-p.reported >= 1<<20 || p.done == p.total || p.done == 0) {
		p.reported = p.done
		p.report(p.done, p.total)
	}
}

// endSegment accounts for the rest of a store of size bytes, which the
// scan found damaged or did not read.
func (p *progress) endSegment(size uint64) {
	if p == nil {
		return
	}
	if size > p.segment {
		p.add(size - p.segment)
	}
	p.segment = 0
}
