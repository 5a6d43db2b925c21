package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

// snapshot is every file of a directory, byte for byte, but the empty
// lock file that Check, like NewLog, creates to keep a log from being
// opened under it.
func snapshot(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range entries {
		if e.Name() == lockName {
			continue
		}
		m[e.Name()] = readFile(t, filepath.Join(dir, e.Name()))
	}
	return m
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for name, x := range a {
		if y, ok := b[name]; !ok || !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// check runs Check without Repair, fails the test if it changes any file,
// and returns its report.
func check(t *testing.T, dir string) CheckReport {
	t.Helper()
	before := snapshot(t, dir)
	rep, err := Check(dir, CheckOptions{})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if !sameFiles(before, snapshot(t, dir)) {
		t.Fatal("check without repair changed the files")
	}
	return rep
}

func repair(t *testing.T, dir string) CheckReport {
	t.Helper()
	rep, err := Check(dir, CheckOptions{Repair: true})
	if err != nil {
		t.Fatalf("check with repair: %v", err)
	}
	return rep
}

// wantClean fails unless every segment of rep is ok and the log holds
// records records from lowest on.
func wantClean(t *testing.T, rep CheckReport, lowest, records uint64) {
	t.Helper()
	if !rep.OK() || rep.Damaged != 0 || rep.Records != records || rep.LowestOffset != lowest || rep.NextOffset != lowest+records {
		t.Fatalf("report %+v, want %d clean records from %d", rep, records, lowest)
	}
	for _, s := range rep.Segments {
		if s.Status != StatusOK || len(s.Problems) != 0 || s.FirstBad != nil || s.Advice != "" {
			t.Fatalf("segment %+v, want ok", s)
		}
	}
}

// segmentReport returns the report of the segment at base.
func segmentReport(t *testing.T, rep CheckReport, base uint64) SegmentReport {
	t.Helper()
	for _, s := range rep.Segments {
		if s.BaseOffset == base {
			return s
		}
	}
	t.Fatalf("no segment at %d in %+v", base, rep)
	return SegmentReport{}
}

// wantOnlyDamaged fails unless the segment at base is the only damaged one
// and its first bad record is at want.
func wantOnlyDamaged(t *testing.T, rep CheckReport, base uint64, want Location) SegmentReport {
	t.Helper()
	if rep.OK() || rep.Damaged != 1 {
		t.Fatalf("report %+v, want one damaged segment", rep)
	}
	s := segmentReport(t, rep, base)
	if s.Status != StatusDamaged || len(s.Problems) == 0 || s.FirstBad == nil || *s.FirstBad != want {
		t.Fatalf("segment %+v, want damaged from %+v", s, want)
	}
	return s
}

// wantNoRecovery opens dir and fails if NewLog had anything to repair or
// the records do not read back.
func wantNoRecovery(t *testing.T, dir string, c Config, want []*messages.Record) {
	t.Helper()
	l := openLog(t, dir, c)
	if rec := l.Recovered(); len(rec) != 0 {
		t.Fatalf("NewLog after the check recovered %+v", rec)
	}
	if next, n := l.NextOffset(), len(want); n > 0 && next != want[n-1].Offset+1 {
		t.Fatalf("next offset %d, want %d", next, want[n-1].Offset+1)
	}
	checkReadAll(t, l, want)
	closeLog(t, l)
}

// sealedLog writes [0 1 2] [3 4 5] [6 7 8] [9 10] and closes the log.
func sealedLog(t *testing.T) (dir string, c Config, want []*messages.Record) {
	t.Helper()
	dir = t.TempDir()
	c = quietConfig(uint64(3*frameSize(t, value(0), 0)), 0)
	l := openLog(t, dir, c)
	want = appendN(t, l, 11)
	closeLog(t, l)
	if n := len(files(t, dir, storeSuffix)); n != 4 {
		t.Fatalf("%d segments, want 4", n)
	}
	return dir, c, want
}

func TestCheckClean(t *testing.T) {
	dir, _, want := sealedLog(t)
	var calls, total int64
	var done []int64
	rep, err := Check(dir, CheckOptions{Progress: func(d, tot int64) {
		calls++
		done = append(done, d)
		total = tot
	}})
	if err != nil {
		t.Fatal(err)
	}
	wantClean(t, rep, 0, uint64(len(want)))
	if len(rep.Segments) != 4 || rep.Bytes != uint64(len(storeBytes(t, dir))) {
		t.Fatalf("report %+v", rep)
	}
	for i, s := range rep.Segments {
		if s.BaseOffset != uint64(3*i) || s.Records != uint64(min(3, 11-3*i)) || s.NextOffset != s.BaseOffset+s.Records {
			t.Fatalf("segment %d: %+v", i, s)
		}
	}
	if calls == 0 || total != int64(rep.Bytes) || done[len(done)-1] != total {
		t.Fatalf("progress: %d calls, done %v of %d, want to end at %d", calls, done, total, rep.Bytes)
	}
	for i := 1; i < len(done); i++ {
		if done[i] < done[i-1] {
			t.Fatalf("progress went back: %v", done)
		}
	}

	// A log as kill -9 leaves it is not damaged; repairing it cuts the
	// index and the store's free space, so that the next open has
	// nothing to recover.
	img := newCrashImage(t, 2)
	dir = copyDir(t, img.open)
	rep = check(t, dir)
	wantClean(t, rep, 0, 5)
	if notes := rep.Segments[1].Notes; len(notes) != 2 || !strings.Contains(notes[0], "not cut to size") ||
		!strings.Contains(notes[1], "free space") {
		t.Fatalf("notes %q, want one about the preallocated index and one about the store's free space", notes)
	}
	rep = repair(t, dir)
	if !rep.OK() || rep.Repaired != 1 || rep.Segments[1].Status != StatusRepaired {
		t.Fatalf("repair of a crashed log: %+v", rep)
	}
	wantNoRecovery(t, dir, img.config, img.records)
	wantClean(t, check(t, dir), 0, 5)
}

func TestCheckEmpty(t *testing.T) {
	dir := t.TempDir()
	wantClean(t, check(t, dir), 0, 0)
	l := openLog(t, dir, quietConfig(1<<10, 0))
	closeLog(t, l)
	rep := check(t, dir)
	wantClean(t, rep, 0, 0)
	if len(rep.Segments) != 1 {
		t.Fatalf("report %+v", rep)
	}
}

func TestCheckNoDir(t *testing.T) {
	if _, err := Check(filepath.Join(t.TempDir(), "nothing"), CheckOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("check of a missing dir: %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	writeFile(t, f, nil)
	if _, err := Check(f, CheckOptions{Repair: true}); err == nil {
		t.Fatal("check of a file: no error")
	}
}

// TestCheckStoreBitFlip flips bits in the records of sealed segments: the
// record is reported with its offset and position, Repair deletes nothing,
// and the advice says what to do.
func TestCheckStoreBitFlip(t *testing.T) {
	fs := frameSize(t, value(0), 0)
	for _, offset := range []uint64{0, 4, 5} {
		for _, w := range []struct {
			name string
			pos  int
			mask byte
		}{
			{"length", 2, 0x10},
			{"checksum", 6, 0x01},
			{"payload", fs - 3, 0x40},
		} {
			t.Run(fmt.Sprintf("offset %d/%s", offset, w.name), func(t *testing.T) {
				t.Parallel()
				dir, _, want := sealedLog(t)
				store := files(t, dir, storeSuffix)[offset/3]
				pos := frames(t, store)[offset%3].pos
				flipBit(t, store, int64(pos+w.pos), w.mask)

				rep := check(t, dir)
				base := offset - offset%3
				s := wantOnlyDamaged(t, rep, base, Location{Offset: offset, Position: uint64(pos)})
				if rep.Records != uint64(len(want)-1) || s.Records != 2 {
					t.Fatalf("records %d (segment %d), want %d (2)", rep.Records, s.Records, len(want)-1)
				}
				if !strings.Contains(s.Advice, "restore") {
					t.Fatalf("advice %q", s.Advice)
				}

				before := snapshot(t, dir)
				rep = repair(t, dir)
				if !sameFiles(before, snapshot(t, dir)) {
					t.Fatal("repair changed a sealed segment with damage in it")
				}
				wantOnlyDamaged(t, rep, base, Location{Offset: offset, Position: uint64(pos)})
			})
		}
	}
}

// TestCheckSealedIndex damages a sealed segment's index with an intact
// store: Check finds it and Repair rebuilds it, including the damage NewLog
// does not look for, a wrong entry between a right first and last one.
func TestCheckSealedIndex(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		// at is the first bad offset, in the segment [3 4 5] or at its end.
		at uint64
		// readable is how many records read back: all three, unless the
		// log trusts the damaged index as it is.
		readable uint64
	}{
		{"garbage", func(t *testing.T, p string) {
			b := readFile(t, p)
			fillRandom(rand.New(rand.NewPCG(3, 4)), b)
			writeFile(t, p, b)
		}, 3, 3},
		// Record 3's frame then ends where entry 1 says record 4 begins.
		{"middle entry zeroed", func(t *testing.T, p string) { patchFile(t, p, entryWidth, make([]byte, entryWidth)) }, 3, 1},
		// Reads check the relative offset, so that record is unreadable.
		{"middle relative offset wrong", func(t *testing.T, p string) { patchFile(t, p, entryWidth+3, []byte{7}) }, 4, 2},
		{"missing", func(t *testing.T, p string) { os.Remove(p) }, 3, 3},
		{"empty", func(t *testing.T, p string) { writeFile(t, p, nil) }, 3, 3},
		{"cut mid-entry", func(t *testing.T, p string) { writeFile(t, p, readFile(t, p)[:2*entryWidth+5]) }, 5, 3},
		{"entry past the store", func(t *testing.T, p string) {
			writeFile(t, p, append(readFile(t, p), indexEntry(3, 1<<20)...))
		}, 6, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, c, want := sealedLog(t)
			tt.damage(t, segmentName(dir, 3, indexSuffix))
			rep := check(t, dir)
			s := segmentReport(t, rep, 3)
			if rep.OK() || rep.Damaged != 1 || s.Status != StatusDamaged || len(s.Problems) == 0 {
				t.Fatalf("report %+v", rep)
			}
			if s.FirstBad == nil || s.FirstBad.Offset != tt.at {
				t.Fatalf("first bad %+v, want offset %d: %q", s.FirstBad, tt.at, s.Problems)
			}
			if s.Records != tt.readable {
				t.Fatalf("%d records read back, want %d", s.Records, tt.readable)
			}
			if !strings.Contains(s.Advice, "repair") {
				t.Fatalf("advice %q, want to run repair", s.Advice)
			}

			rep = repair(t, dir)
			s = segmentReport(t, rep, 3)
			if !rep.OK() || rep.Repaired != 1 || s.Status != StatusRepaired || len(s.Repairs) == 0 || len(s.Problems) == 0 {
				t.Fatalf("repair: %+v", rep)
			}
			wantClean(t, check(t, dir), 0, uint64(len(want)))
			wantNoRecovery(t, dir, c, want)
		})
	}
}

// TestCheckTornTail tears the active segment's last record, as a power
// loss does: Check reports the torn tail, Repair cuts it, and NewLog then
// has nothing to recover.
func TestCheckTornTail(t *testing.T) {
	img := newCrashImage(t, 2)
	last := img.activeFrames[1]
	// Cut after a byte that is not zero: the frame's first bytes, the top
	// of its length, are zeros, and zeros at the end are free space.
	for _, cut := range []int{4, frame.HeaderSize, last.size - 1} {
		for _, src := range []string{img.open, img.closed} {
			t.Run(fmt.Sprintf("cut %d/open=%v", cut, src == img.open), func(t *testing.T) {
				dir := copyDir(t, src)
				store := filepath.Join(dir, img.active)
				writeFile(t, store, readFile(t, store)[:last.pos+cut])

				rep := check(t, dir)
				s := wantOnlyDamaged(t, rep, 3, Location{Offset: 4, Position: uint64(last.pos)})
				if !strings.Contains(s.Problems[0], "torn tail") || s.Records != 1 || rep.NextOffset != 4 {
					t.Fatalf("report %+v", s)
				}
				rep = repair(t, dir)
				s = segmentReport(t, rep, 3)
				if !rep.OK() || s.Status != StatusRepaired || !strings.Contains(strings.Join(s.Repairs, ";"), "cut the torn tail") {
					t.Fatalf("repair: %+v", rep)
				}
				if got := len(readFile(t, store)); got != last.pos {
					t.Fatalf("store is %d bytes after repair, want %d", got, last.pos)
				}
				wantClean(t, check(t, dir), 0, 4)
				wantNoRecovery(t, dir, img.config, img.records[:4])
			})
		}
	}
}

// TestCheckRepairMatchesRecovery runs Check on the damaged active segments
// of the recovery tests: it must flag exactly the damage, change nothing
// without Repair, and with it leave files that NewLog opens with nothing
// to recover and the same intact records that its own recovery keeps.
func TestCheckRepairMatchesRecovery(t *testing.T) {
	img := newCrashImage(t, 2)
	for _, id := range indexDamages {
		for _, sd := range storeDamages(img.activeFrames) {
			if !sd.sample {
				continue
			}
			t.Run(fmt.Sprintf("index %s/store %s", id.name, sd.name), func(t *testing.T) {
				t.Parallel()
				src := img.closed
				if id.fromOpen {
					src = img.open
				}
				dir := copyDir(t, src)
				store := filepath.Join(dir, img.active)
				damaged := sd.damage(readFile(t, store))
				writeFile(t, store, damaged)
				if id.damage != nil {
					id.damage(t, filepath.Join(dir, indexName(img.active)), rand.New(rand.NewPCG(1, 2)), len(img.activeFrames))
				}
				rep := check(t, dir)
				// A closed index that lists a record the store lacks is
				// damage too: that record is lost.
				bad := sd.tornBytes(img.activeFrames, damaged) > 0 || id.damage != nil || !id.fromOpen && sd.intact < len(img.activeFrames)
				if rep.OK() == bad {
					t.Fatalf("damaged=%v, report %+v", bad, rep.Segments[1])
				}
				rep = repair(t, dir)
				if !rep.OK() {
					t.Fatalf("repair left %+v", rep.Segments[1])
				}
				wantNoRecovery(t, dir, img.config, img.records[:3+sd.intact])
			})
		}
	}
}

// TestCheckContinuity removes and duplicates segments: a gap or an overlap
// between segments is damage that Repair leaves alone.
func TestCheckContinuity(t *testing.T) {
	t.Run("gap", func(t *testing.T) {
		dir, _, _ := sealedLog(t)
		store := files(t, dir, storeSuffix)[1]
		os.Remove(store)
		os.Remove(strings.TrimSuffix(store, storeSuffix) + indexSuffix)
		rep := repair(t, dir)
		s := wantOnlyDamaged(t, rep, 6, Location{Offset: 3})
		if !strings.Contains(s.Problems[0], "offsets 3 to 5 are missing") {
			t.Fatalf("problems %q", s.Problems)
		}
	})
	t.Run("overlap", func(t *testing.T) {
		dir, _, _ := sealedLog(t)
		// A copy of [3 4 5] named as if it began at 4.
		for _, suffix := range []string{storeSuffix, indexSuffix} {
			writeFile(t, segmentName(dir, 4, suffix), readFile(t, segmentName(dir, 3, suffix)))
		}
		rep := check(t, dir)
		s := segmentReport(t, rep, 4)
		if rep.OK() || s.Status != StatusDamaged || !strings.Contains(strings.Join(s.Problems, ";"), "refuses to open") {
			t.Fatalf("report %+v", s)
		}
		// Its records carry offsets 3 to 5 where 4 to 6 are due.
		if !strings.Contains(s.Advice, "another log or renamed") {
			t.Fatalf("advice %q", s.Advice)
		}
		if _, err := NewLog(dir, Config{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("NewLog on overlapping segments: %v", err)
		}
	})
	t.Run("stray index", func(t *testing.T) {
		dir, _, want := sealedLog(t)
		writeFile(t, segmentName(dir, 99, indexSuffix), nil)
		rep := check(t, dir)
		wantClean(t, rep, 0, uint64(len(want)))
		if len(rep.Notes) != 1 {
			t.Fatalf("notes %q", rep.Notes)
		}
	})
}

// TestCheckSealedTail damages the last record of a sealed segment, which
// makes NewLog distrust its index and leave the damaged tail in place.
func TestCheckSealedTail(t *testing.T) {
	dir, c, _ := sealedLog(t)
	store := files(t, dir, storeSuffix)[1]
	fr := frames(t, store)[2]
	patchFile(t, store, int64(fr.pos), make([]byte, 4)) // zero length
	// Let NewLog rebuild the index as it does, so that the damaged record
	// is past the index's end.
	l := openLog(t, dir, c)
	if rec := l.Recovered(); len(rec) != 1 || rec[0].DamagedBytes != uint64(fr.size) {
		t.Fatalf("recovered %+v", rec)
	}
	closeLog(t, l)
	rep := check(t, dir)
	s := wantOnlyDamaged(t, rep, 3, Location{Offset: 5, Position: uint64(fr.pos)})
	joined := strings.Join(s.Problems, ";")
	if !strings.Contains(joined, "length 0") || !strings.Contains(joined, "offsets 5 to 5 cannot be read") || s.Records != 2 {
		t.Fatalf("problems %q", s.Problems)
	}
}

// TestCheckIntactAfterDamage damages a record in the middle of the active
// segment whose index a crash left preallocated: opening the log would cut
// the intact records after it, so Repair must not, and Check must warn.
func TestCheckIntactAfterDamage(t *testing.T) {
	img := newCrashImage(t, 2)
	dir := copyDir(t, img.open)
	store := filepath.Join(dir, img.active)
	flipBit(t, store, int64(img.activeFrames[0].pos+frame.HeaderSize+1), 0x02)
	before := snapshot(t, dir)
	rep := repair(t, dir)
	if !sameFiles(before, snapshot(t, dir)) {
		t.Fatal("repair cut intact records")
	}
	s := wantOnlyDamaged(t, rep, 3, Location{Offset: 3, Position: 0})
	if !strings.Contains(s.Advice, "Copy") || !strings.Contains(strings.Join(s.Problems, ";"), "1 intact records after the damage") {
		t.Fatalf("report %+v", s)
	}
}

// indexEntry is the encoding of an index entry.
func indexEntry(rel uint32, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(nil, rel), pos)
}
