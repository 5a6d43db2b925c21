package segment

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

// crashImage is a log's directory as a crash would leave it, taken while
// the log was open, and the same directory after a clean Close.
type crashImage struct {
	open, closed string
	records      []*messages.Record
	config       Config
	// active is the file name of the last store; activeFrames its frames.
	active       string
	activeFrames []framePos
}

// newCrashImage writes two segments, a sealed one of three records and the
// active one of activeRecords records, and keeps copies of the files. The
// options change the log's config before it opens.
func newCrashImage(t *testing.T, activeRecords int, options ...func(*Config)) crashImage {
	t.Helper()
	fs := uint64(frameSize(t, value(0), 0))
	c := quietConfig(3*fs, 100*entryWidth)
	for _, o := range options {
		o(&c)
	}
	dir := t.TempDir()
	l := openLog(t, dir, c)
	recs := appendN(t, l, 3+activeRecords)
	img := crashImage{open: copyDir(t, dir), records: recs, config: c}
	closeLog(t, l)
	img.closed = copyDir(t, dir)
	stores := files(t, dir, storeSuffix)
	if len(stores) != 2 {
		t.Fatalf("want 2 segments, got %v", stores)
	}
	img.active = filepath.Base(stores[1])
	img.activeFrames = frames(t, stores[1])
	if len(img.activeFrames) != activeRecords {
		t.Fatalf("active segment holds %d frames, want %d", len(img.activeFrames), activeRecords)
	}
	if fi, err := os.Stat(filepath.Join(img.open, indexName(img.active))); err != nil || fi.Size() != 100*entryWidth {
		t.Fatalf("open image's active index: %v, %v; want it grown to capacity", fi, err)
	}
	return img
}

func indexName(store string) string { return store[:len(store)-len(storeSuffix)] + indexSuffix }

// indexDamage turns the active index of a copied image into what a crash
// or bit rot could leave.
type indexDamage struct {
	name string
	// fromOpen takes the index as the open log had it (grown, with zero
	// entries after the used ones); otherwise as Close left it.
	fromOpen bool
	damage   func(t *testing.T, path string, rnd *rand.Rand, n int)
	// everyByte runs the index damage with the store cut at every byte of
	// its last frame, not only a few; with fromOpen, every store damage.
	everyByte bool
}

var indexDamages = []indexDamage{
	{"grown as after kill -9", true, nil, true},
	{"cut as after close", false, nil, true},
	{"missing", false, func(t *testing.T, p string, _ *rand.Rand, _ int) {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}, false},
	{"empty", false, func(t *testing.T, p string, _ *rand.Rand, _ int) { writeFile(t, p, nil) }, false},
	{"cut mid-entry", true, func(t *testing.T, p string, _ *rand.Rand, n int) {
		writeFile(t, p, readFile(t, p)[:(n-1)*entryWidth+5])
	}, false},
	{"random garbage of its capacity", false, func(t *testing.T, p string, rnd *rand.Rand, _ int) {
		b := make([]byte, 100*entryWidth)
		fillRandom(rnd, b)
		writeFile(t, p, b)
	}, false},
	{"random garbage of its used size", false, func(t *testing.T, p string, rnd *rand.Rand, _ int) {
		b := readFile(t, p)
		fillRandom(rnd, b)
		writeFile(t, p, b)
	}, false},
	{"extra entry past the store", false, func(t *testing.T, p string, _ *rand.Rand, _ int) {
		b := readFile(t, p)
		n := uint32(len(b) / entryWidth)
		b = binary.BigEndian.AppendUint32(b, n)
		b = binary.BigEndian.AppendUint64(b, 1<<20)
		writeFile(t, p, b)
	}, false},
	{"last entry pointing past the store", false, func(t *testing.T, p string, _ *rand.Rand, _ int) {
		b := readFile(t, p)
		binary.BigEndian.PutUint64(b[len(b)-8:], 1<<20)
		writeFile(t, p, b)
	}, false},
}

func fillRandom(rnd *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
}

// storeDamage changes the active store of a copied image and says how many
// of its frames stay intact; tornBytes says how many bytes recovery must
// cut as torn.
type storeDamage struct {
	name   string
	damage func(b []byte) []byte
	intact int
	// sample marks the few damages tried with every index damage.
	sample bool
	// torn marks a store cut inside its last frame.
	torn bool
}

// intactEnd is where the intact frames end in a store of frames fr.
func (sd storeDamage) intactEnd(fr []framePos) int {
	if sd.intact == 0 {
		return 0
	}
	last := fr[sd.intact-1]
	return last.pos + last.size
}

// tornBytes is how much of damaged, a store of frames fr damaged by sd,
// recovery cuts as a torn tail: the bytes after the intact frames up to
// the last one that is not zero. Zeros at the end are free space, as an
// active store's preallocation leaves them.
func (sd storeDamage) tornBytes(fr []framePos, damaged []byte) uint64 {
	return uint64(nonZeroLen(damaged[sd.intactEnd(fr):]))
}

// storeDamages lists, for an active store with the given frames: the last
// frame cut at every byte, the same with the rest of the frame zeroed (as a
// file system may leave a file extended before its data was written),
// intact stores with zeros or garbage appended, and the store untouched.
func storeDamages(fr []framePos) []storeDamage {
	last := fr[len(fr)-1]
	n := len(fr)
	var ds []storeDamage
	for k := range last.size {
		end := last.pos + k
		ds = append(ds, storeDamage{
			name:   fmt.Sprintf("cut at byte %d of the last frame", k),
			damage: func(b []byte) []byte { return b[:end] },
			intact: n - 1, torn: true,
			sample: k == 0 || k == frame.HeaderSize-1 || k == last.size/2 || k == last.size-1,
		})
		if k > 0 {
			ds = append(ds, storeDamage{
				name:   fmt.Sprintf("zeroed from byte %d of the last frame", k),
				damage: func(b []byte) []byte { clear(b[end:]); return b },
				intact: n - 1,
				sample: k == 1,
			})
		}
	}
	for _, z := range []int{1, 7, 8, 9, 100, 4096} {
		ds = append(ds, storeDamage{
			name:   fmt.Sprintf("%d zero bytes appended", z),
			damage: func(b []byte) []byte { return append(b, make([]byte, z)...) },
			intact: n,
			sample: z == 4096,
		})
	}
	for _, z := range []int{1, 8, 9, 13, 4096} {
		ds = append(ds, storeDamage{
			name: fmt.Sprintf("%d garbage bytes appended", z),
			damage: func(b []byte) []byte {
				g := make([]byte, z)
				fillRandom(rand.New(rand.NewPCG(uint64(z), 1)), g)
				return append(b, g...)
			},
			intact: n,
			sample: z == 13,
		})
	}
	// A frame header claiming the largest length, with nothing after it:
	// recovery must not allocate what it claims.
	ds = append(ds, storeDamage{
		name:   "huge length appended",
		damage: func(b []byte) []byte { return append(b, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5) },
		intact: n, sample: true,
	})
	ds = append(ds, storeDamage{name: "untouched", damage: func(b []byte) []byte { return b }, intact: n, sample: true})
	return ds
}

// TestRecoverActiveSegment damages the files of a log that died with two
// records in its active segment, the last one torn at every byte, and
// checks that NewLog keeps exactly the intact records and goes on after
// them. Every store damage runs with the index as kill -9 leaves it, every
// cut with the index as a clean close leaves it; the other index damages,
// and an active segment of one record, get a sample of store damages.
func TestRecoverActiveSegment(t *testing.T) {
	for _, activeRecords := range []int{2, 1} {
		img := newCrashImage(t, activeRecords)
		for _, id := range indexDamages {
			for _, sd := range storeDamages(img.activeFrames) {
				if !sd.sample && !(activeRecords == 2 && id.everyByte && (sd.torn || id.fromOpen)) {
					continue
				}
				name := fmt.Sprintf("%d in active/index %s/store %s", activeRecords, id.name, sd.name)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					testRecover(t, img, id, sd)
				})
			}
		}
	}
}

func testRecover(t *testing.T, img crashImage, id indexDamage, sd storeDamage) {
	t.Helper()
	src := img.closed
	if id.fromOpen {
		src = img.open
	}
	dir := copyDir(t, src)
	storePath := filepath.Join(dir, img.active)
	orig := readFile(t, storePath)
	damaged := sd.damage(bytes.Clone(orig))
	writeFile(t, storePath, damaged)
	if id.damage != nil {
		id.damage(t, filepath.Join(dir, indexName(img.active)), rand.New(rand.NewPCG(1, 2)), len(img.activeFrames))
	}
	closedActive := readFile(t, filepath.Join(img.closed, img.active))
	sealed := storeBytes(t, img.closed)[:len(storeBytes(t, img.closed))-len(closedActive)]
	// Zeros at the end of the store are free space, as preallocation
	// leaves it: recovery cuts them without counting them as torn.
	intactEnd := sd.intactEnd(img.activeFrames)
	cut := sd.tornBytes(img.activeFrames, damaged)
	free := uint64(len(damaged)-intactEnd) - cut

	l := openLog(t, dir, img.config)
	intact := 3 + sd.intact
	if n := l.NextOffset(); n != uint64(intact) {
		t.Fatalf("next offset %d, want %d", n, intact)
	}
	checkReadAll(t, l, img.records[:intact])
	if intact < len(img.records) {
		_, err := l.Read(uint64(intact))
		checkOutOfRange(t, err, uint64(intact))
	}

	rec := l.Recovered()
	// Files as Close leaves them need no recovery, and a tail cut at a
	// frame boundary with an index that happens to match needs none either.
	// A torn tail, or an index grown as kill -9 leaves it, must be reported.
	pristine := !id.fromOpen && id.damage == nil && cut == 0 && free == 0 && sd.intact == len(img.activeFrames)
	mustReport := cut > 0 || free > 0 || id.fromOpen && id.damage == nil
	switch {
	case pristine && len(rec) != 0:
		t.Fatalf("clean files recovered: %+v", rec)
	case len(rec) == 0 && !mustReport:
	case len(rec) != 1:
		t.Fatalf("want one recovery, of the active segment; got %+v", rec)
	case filepath.Base(rec[0].Store) != img.active || rec[0].BaseOffset != 3 || !rec[0].IndexRebuilt ||
		rec[0].Records != uint64(sd.intact) || rec[0].TruncatedBytes != cut || rec[0].DamagedBytes != 0:
		t.Fatalf("recovery %+v, want %d records and %d bytes cut from %s", rec[0], sd.intact, cut, img.active)
	}

	// The intact frames are kept byte for byte, nothing but free space
	// after them.
	wantStore := orig[:intactEnd]
	checkStoreFile(t, storePath, wantStore)
	if got := readerBytes(t, l); !bytes.Equal(got, append(bytes.Clone(sealed), wantStore...)) {
		t.Fatalf("reader gives %d bytes, want %d", len(got), len(sealed)+len(wantStore))
	}

	// Appends go on right after the last intact record, and a clean reopen
	// finds everything. (Reopening syncs, so only a sample does it.)
	want := append(img.records[:intact:intact], appendN(t, l, 2)...)
	checkReadAll(t, l, want)
	if !sd.sample {
		return
	}
	closeLog(t, l)
	l = openLog(t, dir, img.config)
	if rec := l.Recovered(); len(rec) != 0 {
		t.Fatalf("reopen after recovery recovered again: %+v", rec)
	}
	checkReadAll(t, l, want)
}

// TestRecoverAfterRoll reopens the files of a log that died right after it
// rolled: an empty active segment with its index grown.
func TestRecoverAfterRoll(t *testing.T) {
	fs := uint64(frameSize(t, value(0), 0))
	c := quietConfig(3*fs, 100*entryWidth)
	dir := t.TempDir()
	l := openLog(t, dir, c)
	want := appendN(t, l, 3)
	if err := l.TruncateFront(3); err != nil { // rolls to an empty segment at 3
		t.Fatal(err)
	}
	want = append(want, appendN(t, l, 3)...)
	// Force the roll with a batch that cannot join the full segment.
	batch := appendable(2)
	if _, err := l.AppendBatch(batch); err != nil {
		t.Fatal(err)
	}
	img := copyDir(t, dir)
	l2 := openLog(t, img, c)
	if n := l2.NextOffset(); n != 8 {
		t.Fatalf("next %d, want 8", n)
	}
	checkReadAll(t, l2, append(want[3:], batch...))
}

// TestRecoverSealedIndex rebuilds a sealed segment's index that is missing
// or damaged, without cutting anything from its store.
func TestRecoverSealedIndex(t *testing.T) {
	img := newCrashImage(t, 2)
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"missing", func(t *testing.T, p string) { os.Remove(p) }},
		{"empty", func(t *testing.T, p string) { writeFile(t, p, nil) }},
		{"grown with zeros", func(t *testing.T, p string) {
			writeFile(t, p, append(readFile(t, p), make([]byte, 10*entryWidth)...))
		}},
		{"first entry wrong", func(t *testing.T, p string) {
			b := readFile(t, p)
			b[11] = 9
			writeFile(t, p, b)
		}},
		{"cut by one entry", func(t *testing.T, p string) {
			b := readFile(t, p)
			writeFile(t, p, b[:len(b)-entryWidth])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDir(t, img.closed)
			first := files(t, dir, indexSuffix)[0]
			stores := storeBytes(t, dir)
			tt.damage(t, first)
			l := openLog(t, dir, img.config)
			rec := l.Recovered()
			if len(rec) != 1 || rec[0].BaseOffset != 0 || !rec[0].IndexRebuilt || rec[0].Records != 3 ||
				rec[0].TruncatedBytes != 0 || rec[0].DamagedBytes != 0 {
				t.Fatalf("recovered %+v", rec)
			}
			checkReadAll(t, l, img.records)
			if got := liveStoreBytes(t, dir); !bytes.Equal(got, stores) {
				t.Fatal("recovery changed a store")
			}
		})
	}
}
