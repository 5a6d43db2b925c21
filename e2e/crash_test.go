package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/segmenttest"
	"github.com/evlog/evlog/service/client"
)

// crashServeFlags are the flags of the crash campaign's server under a
// sync mode: segments small enough to roll several times a cycle, so that
// kills land during rolls too (a store holds 1 MiB, no less, so that the
// largest record fits, and an index 500 records), a short sync interval,
// so that background syncs run while the appenders write, and JSON logs,
// so that the campaign can read the repairs.
func crashServeFlags(mode string) []string {
	flags := []string{
		"--sync", mode,
		"--max-store-bytes", "1048576",
		"--max-index-bytes", "6000",
		"--log-json",
	}
	if mode == "interval" {
		flags = append(flags, "--sync-interval", "20ms")
	}
	return flags
}

const crashWriters = 4

// crashValueID names a value the campaign appended: the cycle and writer
// that sent it and the writer's count of records so far. The bytes of the
// value follow from it, so the campaign keeps ids, not values.
type crashValueID struct{ cycle, writer, seq uint32 }

// crashValue returns the bytes of id: the id in text, then filler whose
// size and bytes follow from seed and id. Most values are small; one in
// twenty takes a few KiB and one in a hundred up to 200 KiB, so that
// batches span pages, a kill can tear them, and stores fill up as often
// as indexes do.
func crashValue(seed uint64, id crashValueID) []byte {
	rng := rand.New(rand.NewPCG(seed, uint64(id.cycle)<<40|uint64(id.writer)<<32|uint64(id.seq)))
	n := 1 + rng.IntN(200)
	switch rng.IntN(100) {
	case 0:
		n = 50<<10 + rng.IntN(150<<10)
	case 1, 2, 3, 4:
		n = 2000 + rng.IntN(6000)
	}
	b := fmt.Appendf(make([]byte, 0, 32+n), "c%d w%d n%d|", id.cycle, id.writer, id.seq)
	for range n {
		b = append(b, byte(rng.Uint32()))
	}
	return b
}

// parseCrashValue reads the id at the start of a value.
func parseCrashValue(v []byte) (crashValueID, bool) {
	head, _, ok := bytes.Cut(v, []byte("|"))
	var id crashValueID
	_, err := fmt.Sscanf(string(head), "c%d w%d n%d", &id.cycle, &id.writer, &id.seq)
	return id, ok && err == nil
}

// crashCampaign is the state of a crash campaign across kills: what was
// acknowledged, and the figures it reports.
type crashCampaign struct {
	t    *testing.T
	seed uint64

	// mu guards acked and highest, written by the appenders.
	mu      sync.Mutex
	acked   map[uint64]crashValueID
	highest uint64 // the offset after the highest acknowledged one

	kills, verified, survivors, repairs, torn, tornBytes int
}

// crashPrediction is what recovery must find, computed from the files
// before the server starts on them: the active segment keeps its intact
// frames and loses its torn tail.
type crashPrediction struct {
	store string // base name of the active store
	next  uint64
	torn  int64
}

func (cc *crashCampaign) predict(dir string) (crashPrediction, bool) {
	segs := segmenttest.Segments(cc.t, dir)
	if len(segs) == 0 {
		return crashPrediction{}, false
	}
	last := segs[len(segs)-1]
	ends, size := campaignFrames(cc.t, last.Store)
	end := int64(0)
	if len(ends) > 0 {
		end = ends[len(ends)-1]
	}
	return crashPrediction{store: filepath.Base(last.Store), next: last.Base + uint64(len(ends)), torn: size - end}, true
}

// TestCrashCampaign kills `evlog serve` with SIGKILL at random moments
// while appenders write through NATS, restarts it on the same directory,
// and checks after each restart that every acknowledged record reads back
// byte for byte, that offsets are contiguous and never reused, and that
// the server reported the torn tail it cut. It does so in every sync mode:
// an append is written to the kernel before it is acknowledged, so a crash
// of the process loses nothing acknowledged even when nothing is synced.
// --sync always, whose acknowledgement also waits for the disk, gets the
// most cycles; the others a few each. EVLOG_CRASH_CYCLES sets the number
// of kills of every mode (300 for a soak run).
func TestCrashCampaign(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it over and over")
	}
	bin := buildBinary(t)
	for _, m := range []struct {
		mode   string
		cycles int
	}{{"always", 6}, {"interval", 3}, {"never", 3}} {
		t.Run(m.mode, func(t *testing.T) {
			runCrashCampaign(t, bin, m.mode, campaignSetting(t, "EVLOG_CRASH_CYCLES", m.cycles))
		})
	}
}

// runCrashCampaign is TestCrashCampaign under one sync mode: cycles kills
// of the binary bin, then a graceful stop.
func runCrashCampaign(t *testing.T, bin, mode string, cycles int) {
	cc := &crashCampaign{t: t, seed: campaignSeed(t, "EVLOG_CRASH_SEED"), acked: map[uint64]crashValueID{}}
	rng := rand.New(rand.NewPCG(cc.seed, 0))
	dir := t.TempDir()
	start := time.Now()

	var from uint64 // the records below were checked after an earlier kill
	for cycle := range cycles + 1 {
		want, restart := cc.predict(dir)
		p := startBinary(t, bin, dir, crashServeFlags(mode)...)
		// Without reconnecting, requests fail as soon as the server dies;
		// the broken pipe that follows is expected, not worth printing.
		nc, err := nats.Connect(p.url, nats.NoReconnect(), nats.Name(t.Name()),
			nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		if err != nil {
			t.Fatal(err)
		}
		c := client.New(nc)
		info, err := c.Info(ctxT(t))
		if err != nil {
			t.Fatalf("cycle %d: info: %v", cycle, err)
		}
		if restart && info.NextOffset != want.next {
			t.Errorf("cycle %d: recovered next offset %d; the files held intact records up to %d", cycle, info.NextOffset, want.next)
		}
		if info.NextOffset < cc.highest || info.LowestOffset != 0 {
			t.Fatalf("cycle %d: log holds [%d, %d), offsets up to %d were acknowledged", cycle, info.LowestOffset, info.NextOffset, cc.highest-1)
		}
		last := cycle == cycles
		if last || cycle%50 == 49 {
			cc.verify(c, 0, info.NextOffset, false)
		}
		cc.verify(c, from, info.NextOffset, true)
		from = info.NextOffset

		if last {
			// A graceful stop after the last recovery: nothing left to
			// repair on the next start.
			rep, err := c.Append(ctxT(t), rec([]byte("after the last kill")))
			if err != nil || rep.FirstOffset != info.NextOffset {
				t.Fatalf("append after the last restart: %+v, %v", rep, err)
			}
			nc.Close()
			if err := p.signal(t, syscall.SIGTERM); err != nil {
				t.Errorf("graceful stop: %v\n%s", err, p.stderr)
			}
		} else {
			cc.appendUntilKilled(p, c, uint32(cycle), info.NextOffset, crashDelay(rng))
			nc.Close()
		}
		cc.checkLog(p, cycle, want, restart)
	}
	t.Logf("--sync %s: %d kills in %v: %d records acknowledged, %d read back and compared, %d unacknowledged records survived; "+
		"%d repairs logged, %d torn tails cut (%d bytes); 0 records lost, 0 crashes",
		mode, cc.kills, time.Since(start).Round(time.Millisecond), len(cc.acked), cc.verified, cc.survivors,
		cc.repairs, cc.torn, cc.tornBytes)
}

// crashDelay picks when to kill: a quarter of the kills come almost at
// once, while the appenders start; the rest within 400 ms.
func crashDelay(rng *rand.Rand) time.Duration {
	if rng.IntN(4) == 0 {
		return time.Duration(rng.IntN(20)) * time.Millisecond
	}
	return time.Duration(20+rng.IntN(380)) * time.Millisecond
}

// appendUntilKilled runs the appenders, kills the server after delay and
// waits for the appenders to notice.
func (cc *crashCampaign) appendUntilKilled(p *proc, c *client.Client, cycle uint32, next uint64, delay time.Duration) {
	t := cc.t
	var killed atomic.Bool
	var wg sync.WaitGroup
	for w := range uint32(crashWriters) {
		wg.Go(func() { cc.write(c, cycle, w, next, &killed) })
	}
	// The random moment of the kill is the point of this sleep.
	time.Sleep(delay)
	select {
	case err := <-p.done:
		t.Fatalf("cycle %d: evlog serve exited on its own: %v\n%s", cycle, err, p.stderr)
	default:
	}
	killed.Store(true)
	var exit *exec.ExitError
	if err := p.signal(t, syscall.SIGKILL); !errors.As(err, &exit) {
		t.Fatalf("cycle %d: after SIGKILL: %v", cycle, err)
	}
	cc.kills++
	wg.Wait()
}

// write appends batches of random sizes until an append fails, which
// must not happen before the kill.
func (cc *crashCampaign) write(c *client.Client, cycle, w uint32, next uint64, killed *atomic.Bool) {
	rng := rand.New(rand.NewPCG(cc.seed, 1<<63|uint64(cycle)<<8|uint64(w)))
	for seq := uint32(0); ; {
		n := 1 + rng.IntN(16)
		ids := make([]crashValueID, n)
		recs := make([]messages.Record, n)
		for i := range n {
			ids[i] = crashValueID{cycle, w, seq}
			recs[i] = rec(crashValue(cc.seed, ids[i]))
			seq++
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rep, err := c.Append(ctx, recs...)
		cancel()
		if err != nil {
			if !killed.Load() {
				cc.t.Errorf("cycle %d writer %d: append before the kill: %v", cycle, w, err)
			}
			return
		}
		cc.ack(rep, ids, next)
	}
}

func (cc *crashCampaign) ack(rep messages.AppendReply, ids []crashValueID, next uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if rep.LastOffset < rep.FirstOffset || rep.LastOffset-rep.FirstOffset+1 != uint64(len(ids)) {
		cc.t.Errorf("%d records acknowledged as offsets %d to %d", len(ids), rep.FirstOffset, rep.LastOffset)
		return
	}
	if rep.FirstOffset < next {
		cc.t.Errorf("offset %d acknowledged, below the recovered next offset %d", rep.FirstOffset, next)
	}
	for i, id := range ids {
		off := rep.FirstOffset + uint64(i)
		if prev, dup := cc.acked[off]; dup {
			cc.t.Errorf("offset %d acknowledged twice: for %+v and %+v", off, prev, id)
		}
		cc.acked[off] = id
	}
	cc.highest = max(cc.highest, rep.LastOffset+1)
}

// verify reads [from, to) through the service: offsets must follow one
// another, every value must be one the campaign sent, intact, and every
// acknowledged offset must hold the value acknowledged there. fresh says
// the range was not checked before, so its survivors count.
func (cc *crashCampaign) verify(c *client.Client, from, to uint64, fresh bool) {
	t := cc.t
	t.Helper()
	ctx := ctxT(t)
	for off := from; off < to; {
		rr, err := c.Read(ctx, off, client.ReadOptions{MaxRecords: 1000})
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if len(rr.Records) == 0 {
			t.Fatalf("read %d: no records, the log goes up to %d", off, to)
		}
		for _, r := range rr.Records {
			if r.Offset != off {
				t.Fatalf("read: offset %d where %d was due", r.Offset, off)
			}
			got, ok := parseCrashValue(r.Value)
			if !ok || !bytes.Equal(r.Value, crashValue(cc.seed, got)) {
				t.Fatalf("offset %d holds %d bytes the campaign never sent: %.40q", off, len(r.Value), r.Value)
			}
			if id, acked := cc.acked[off]; acked {
				if id != got {
					t.Fatalf("offset %d was acknowledged for %+v and holds %+v", off, id, got)
				}
				cc.verified++
			} else if fresh {
				cc.survivors++
			}
			off++
		}
		if rr.NextOffset != off {
			t.Fatalf("read reply says next %d after offset %d", rr.NextOffset, off-1)
		}
	}
}

// crashRepair is a "segment repaired" line of the server's JSON log.
type crashRepair struct {
	Msg            string `json:"msg"`
	Store          string `json:"store"`
	Records        uint64 `json:"records"`
	TruncatedBytes int64  `json:"truncated_bytes"`
	DamagedBytes   int64  `json:"damaged_bytes"`
}

// checkLog reads the log of a server that has exited: it must not have
// panicked, and it must have reported cutting the torn tail, if any, that
// the files held when it started. A kill never damages a sealed segment.
func (cc *crashCampaign) checkLog(p *proc, cycle int, want crashPrediction, restart bool) {
	t := cc.t
	t.Helper()
	logged := p.stderr.String()
	if strings.Contains(logged, "panic:") || strings.Contains(logged, "fatal error:") {
		t.Fatalf("cycle %d: evlog serve crashed:\n%s", cycle, logged)
	}
	var tornReported bool
	sc := bufio.NewScanner(strings.NewReader(logged))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r crashRepair
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Msg != "segment repaired" {
			continue
		}
		cc.repairs++
		if r.DamagedBytes != 0 {
			t.Errorf("cycle %d: a kill damaged sealed segment %s: %s", cycle, r.Store, sc.Text())
		}
		if filepath.Base(r.Store) != want.store {
			continue
		}
		if r.TruncatedBytes != want.torn {
			t.Errorf("cycle %d: %s: cut %d bytes, the torn tail was %d", cycle, want.store, r.TruncatedBytes, want.torn)
		}
		tornReported = r.TruncatedBytes > 0
	}
	if !restart || want.torn == 0 {
		return
	}
	if !tornReported {
		t.Errorf("cycle %d: the torn tail of %s (%d bytes) was not reported:\n%s", cycle, want.store, want.torn, logged)
	}
	cc.torn++
	cc.tornBytes += int(want.torn)
}

// crashFileConfig is the log of the file-level tests: small segments, and
// SyncAlways, so that a returned append is on disk.
func crashFileConfig() segment.Config {
	var c segment.Config
	c.Segment.MaxStoreBytes = 16 << 10
	c.Segment.MaxIndexBytes = 12 * 256
	return c
}

// TestCrashCopyInFlight copies the data directory file by file while
// appenders write to the log, as a snapshot of a machine that lost power
// would see it, and opens the copy: it must open, and every record
// acknowledged before the copy began must read back intact.
func TestCrashCopyInFlight(t *testing.T) {
	seed := campaignSeed(t, "EVLOG_CRASH_SEED")
	rng := rand.New(rand.NewPCG(seed, 1))
	copies := campaignSetting(t, "EVLOG_CRASH_COPIES", 4)
	dir := t.TempDir()
	l, err := segment.NewLog(dir, crashFileConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	var (
		mu    sync.Mutex
		acked = map[uint64][]byte{}
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	for w := range crashWriters {
		wg.Go(func() {
			wrng := rand.New(rand.NewPCG(seed, uint64(w)+2))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				recs := make([]*messages.Record, 1+wrng.IntN(8))
				for j := range recs {
					v := fmt.Appendf(nil, "w%d b%d r%d|", w, i, j)
					for range wrng.IntN(600) {
						v = append(v, byte(wrng.Uint32()))
					}
					recs[j] = &messages.Record{Value: v}
				}
				first, err := l.AppendBatch(recs)
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				mu.Lock()
				for j, r := range recs {
					acked[first+uint64(j)] = r.Value
				}
				mu.Unlock()
			}
		})
	}

	var checked, repaired int
	for k := range copies {
		waitFor(t, "appends", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= 200*(k+1)
		})
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		mu.Lock()
		before := maps.Clone(acked)
		mu.Unlock()
		dst := t.TempDir()
		campaignCopyDir(t, dir, dst, rng.Shuffle)
		cp, err := segment.NewLog(dst, crashFileConfig())
		if err != nil {
			t.Fatalf("copy %d: open: %v", k, err)
		}
		for off, v := range before {
			r, err := cp.Read(off)
			if err != nil {
				t.Fatalf("copy %d: offset %d, acknowledged before the copy: %v", k, off, err)
			}
			if !bytes.Equal(r.Value, v) {
				t.Fatalf("copy %d: offset %d: %.30q, acknowledged %.30q", k, off, r.Value, v)
			}
		}
		checked += len(before)
		repaired += len(cp.Recovered())
		if err := cp.Close(); err != nil {
			t.Fatalf("copy %d: close: %v", k, err)
		}
	}
	t.Logf("%d copies in flight opened; %d acknowledged records checked; %d segments repaired", copies, checked, repaired)
}

// crashDamage is a way to damage the active segment's files.
type crashDamage int

const (
	cutStore crashDamage = iota
	garbleStore
	zeroStore
	cutIndex
	garbleIndex
	crashDamages
)

func (d crashDamage) String() string {
	return [...]string{"cut store", "garble store", "zero store", "cut index", "garble index"}[d]
}

// TestCrashDamageActiveSegment cuts and garbles the active segment's store
// and index at random positions, in a log closed cleanly (whose index is
// trusted on open) and in one copied while open (whose preallocated index
// is rebuilt), and opens it: recovery must succeed, keep every record
// before the damage, return nothing wrong as data, and go on appending
// after the last record it kept.
func TestCrashDamageActiveSegment(t *testing.T) {
	seed := campaignSeed(t, "EVLOG_CRASH_SEED")
	rng := rand.New(rand.NewPCG(seed, 2))
	iterations := campaignSetting(t, "EVLOG_CRASH_DAMAGE", 60)
	cfg := crashFileConfig()
	cfg.Sync.Mode = segment.SyncNever

	// The same records in both: several sealed segments and an active one
	// with a dozen records or more.
	var values [][]byte
	closed, crashed := t.TempDir(), t.TempDir()
	l, err := segment.NewLog(closed, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for l.Stats().Segments < 4 || l.NextOffset()-segmenttest.Segments(t, closed)[l.Stats().Segments-1].Base < 12 {
		v := fmt.Appendf(nil, "r%d|", len(values))
		for range rng.IntN(700) {
			v = append(v, byte(rng.Uint32()))
		}
		if _, err := l.Append(&messages.Record{Value: v}); err != nil {
			t.Fatal(err)
		}
		values = append(values, v)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	campaignCopyDir(t, closed, crashed, nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	counts := map[crashDamage]int{}
	var lostToCut, unreadable, refused int
	for it := range iterations {
		src, state := closed, "closed"
		if it%2 == 1 {
			src, state = crashed, "crashed"
		}
		dir := t.TempDir()
		campaignCopyDir(t, src, dir, nil)
		segs := segmenttest.Segments(t, dir)
		act := segs[len(segs)-1]
		ends, _ := campaignFrames(t, act.Store)
		d := crashDamage(rng.IntN(int(crashDamages)))
		counts[d]++
		// keep records of the active segment must survive intact; the
		// index's damage loses none of the store's records.
		keep, exact := crashDamageFiles(t, rng, d, act, ends)
		what := fmt.Sprintf("iteration %d (%s log, %v)", it, state, d)

		l, err := segment.NewLog(dir, cfg)
		if errors.Is(err, segment.ErrCorrupt) && state == "crashed" && (d == garbleStore || d == zeroStore) {
			// Damage before records the rebuilt index still points at is
			// not a torn tail: the log refuses to cut those records and
			// leaves the directory to evlog check and the operator.
			rep, cerr := segment.Check(dir, segment.CheckOptions{})
			if cerr != nil || rep.OK() {
				t.Fatalf("%s: open refused (%v), but check found no damage: %+v, %v", what, err, rep, cerr)
			}
			refused++
			continue
		}
		if err != nil {
			t.Fatalf("%s: open: %v", what, err)
		}
		next := l.NextOffset()
		if next < act.Base+uint64(keep) || next > act.Base+uint64(len(ends)) {
			t.Fatalf("%s: next offset %d, want between %d and %d", what, next, act.Base+uint64(keep), act.Base+uint64(len(ends)))
		}
		if exact >= 0 && next != act.Base+uint64(exact) {
			t.Fatalf("%s: next offset %d, want %d", what, next, act.Base+uint64(exact))
		}
		lostToCut += int(act.Base) + len(ends) - int(next)
		for off := range next {
			r, err := l.Read(off)
			if err == nil && bytes.Equal(r.Value, values[off]) && r.Offset == off {
				continue
			}
			if err == nil {
				t.Fatalf("%s: offset %d reads %.30q, wrote %.30q", what, off, r.Value, values[off])
			}
			if off < act.Base+uint64(keep) || !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("%s: offset %d: %v (the damage starts after record %d)", what, off, err, act.Base+uint64(keep))
			}
			unreadable++
		}
		// Offsets go on from the last record kept, and a clean reopen
		// needs no repair.
		off, err := l.Append(&messages.Record{Value: []byte("after recovery")})
		if err != nil || off != next {
			t.Fatalf("%s: append after recovery: offset %d, %v; want %d", what, off, err, next)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = segment.NewLog(dir, cfg)
		if err != nil {
			t.Fatalf("%s: reopen: %v", what, err)
		}
		if rec := l.Recovered(); len(rec) != 0 {
			t.Errorf("%s: reopen after a clean close repaired %+v", what, rec)
		}
		if r, err := l.Read(next); err != nil || string(r.Value) != "after recovery" {
			t.Errorf("%s: reopen: read %d: %v", what, next, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d damaged logs (%v): %d refused to open because intact records follow mid-store damage; "+
		"%d records after the damage cut, %d read as corrupt, none wrong",
		iterations, counts, refused, lostToCut, unreadable)
}

// crashDamageFiles damages a's store or index as d says and returns how
// many of its records (whose frames end at ends) must survive intact, and
// how many recovery must keep exactly, or -1 when that depends on whether
// the index is trusted.
func crashDamageFiles(tb testing.TB, rng *rand.Rand, d crashDamage, a segmenttest.Segment, ends []int64) (keep, exact int) {
	tb.Helper()
	name := a.Store
	if d == cutIndex || d == garbleIndex {
		name = a.Index
	}
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	if len(b) == 0 {
		return len(ends), len(ends)
	}
	p := rng.IntN(len(b))
	n := min(1+rng.IntN(32), len(b)-p)
	orig := bytes.Clone(b)
	switch d {
	case cutStore, cutIndex:
		b = b[:p]
	case garbleStore, garbleIndex:
		for i := p; i < p+n; i++ {
			b[i] ^= byte(1 + rng.IntN(255))
		}
	case zeroStore:
		clear(b[p : p+n])
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	// The first byte that changed.
	first := len(b)
	for i := range min(len(b), len(orig)) {
		if b[i] != orig[i] {
			first = i
			break
		}
	}
	switch d {
	case cutIndex:
		return len(ends), len(ends)
	case garbleIndex:
		// Record k reads up to entry k+1, so entry k's damage may make
		// record k-1 unreadable; the store still holds them all.
		return min(len(ends), max(first/12-1, 0)), len(ends)
	}
	k := 0
	for k < len(ends) && ends[k] <= int64(first) {
		k++
	}
	if d == cutStore {
		return k, k
	}
	return k, -1
}
