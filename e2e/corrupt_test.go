package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/segmenttest"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
)

// corruptSeed makes the campaign repeatable; EVLOG_CORRUPT_SEED picks
// another, and EVLOG_CORRUPT_ROUNDS runs more rounds for a soak.
const corruptSeed = 20261125

// corruptFile is a file of the pristine log, by name.
type corruptFile struct {
	name string
	data []byte
}

// TestCorruptionOverNATS writes a log of several sealed segments through
// the service, then, round after round, damages copies of its sealed
// stores and indexes (bit flips and zeroed ranges), checks them with
// `evlog check`, and serves them again. A read of a damaged record must
// get 500 naming the corruption, every other record must read back byte
// for byte, nothing else may ever come back as data, `evlog check` must
// count exactly the records the service can still serve, and the service
// must go on answering info and appends.
func TestCorruptionOverNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	seed := uint64(corruptSeed)
	if s := os.Getenv("EVLOG_CORRUPT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("EVLOG_CORRUPT_SEED: %v", err)
		}
	}
	rounds := 8
	if s := os.Getenv("EVLOG_CORRUPT_ROUNDS"); s != "" {
		var err error
		if rounds, err = strconv.Atoi(s); err != nil {
			t.Fatalf("EVLOG_CORRUPT_ROUNDS: %v", err)
		}
	}
	rnd := rand.New(rand.NewPCG(seed, 1))
	ns := servicetest.NATS(t, nil)
	url := ns.ClientURL()

	// The pristine log: about ten segments of records of mixed sizes,
	// some with keys and headers, as the service stored them.
	dir := t.TempDir()
	n := startNode(t, url, dir, smallSegments(), service.Config{})
	nc := connect(t, url)
	c := client.New(nc)
	ctx := ctxT(t)
	var sent []messages.Record
	for len(sent) < 600 {
		batch := make([]messages.Record, 1+rnd.IntN(20))
		for i := range batch {
			v := make([]byte, 20+rnd.IntN(300))
			for j := range v {
				v[j] = byte(rnd.Uint32())
			}
			batch[i] = messages.Record{Value: v}
			if rnd.IntN(4) == 0 {
				batch[i].Key = fmt.Appendf(nil, "key-%d", len(sent)+i)
				batch[i].Headers = map[string]string{"n": strconv.Itoa(len(sent) + i), "kind": "corrupt"}
			}
		}
		rep, err := c.Append(ctx, batch...)
		if err != nil || rep.FirstOffset != uint64(len(sent)) {
			t.Fatalf("append: %+v, %v", rep, err)
		}
		sent = append(sent, batch...)
	}
	want := corruptReadAll(t, nc, len(sent))
	for i, r := range want {
		s := sent[i]
		if r.Offset != uint64(i) || !bytes.Equal(r.Value, s.Value) || !bytes.Equal(r.Key, s.Key) || len(r.Headers) != len(s.Headers) {
			t.Fatalf("record %d reads back as %+v, sent %+v", i, r, s)
		}
	}
	n.stop(t)
	pristine := corruptSnapshot(t, dir)
	var sealed []string // stores and indexes of every segment but the last
	stores := 0
	for _, f := range pristine {
		if strings.HasSuffix(f.name, segmenttest.StoreSuffix) {
			stores++
		}
	}
	if stores < 5 {
		t.Fatalf("%d segments, want several sealed ones", stores)
	}
	for _, f := range pristine {
		// Time index files are left out: the store holds all they do.
		if strings.HasSuffix(f.name, segmenttest.StoreSuffix) || strings.HasSuffix(f.name, segmenttest.IndexSuffix) {
			sealed = append(sealed, f.name)
		}
	}
	sealed = sealed[:2*(stores-1)]

	var damagedReads, cleanReads, ops, noops int
	for round := range rounds {
		t.Logf("round %d", round)
		rdir := filepath.Join(t.TempDir(), "data")
		corruptRestore(t, rdir, pristine)
		// The first rounds go through each kind of damage once; then any.
		for k := range 1 + rnd.IntN(3) {
			kind := rnd.IntN(4)
			if k == 0 && round < 4 {
				kind = round
			}
			// Kinds: 0 flips and 1 zeroes in an index, 2 and 3 in a store;
			// sealed lists each segment's index, then its store.
			name := sealed[2*rnd.IntN(len(sealed)/2)+kind/2]
			path := filepath.Join(rdir, name)
			b, err := os.ReadFile(path)
			if err != nil || len(b) == 0 {
				t.Fatalf("read %s: %d bytes, %v", name, len(b), err)
			}
			pos := rnd.IntN(len(b))
			if kind%2 == 0 {
				b[pos] ^= 1 << rnd.IntN(8)
				t.Logf("  flip a bit at byte %d of %s", pos, name)
			} else {
				end := min(len(b), pos+1+rnd.IntN(64))
				clear(b[pos:end])
				t.Logf("  zero bytes %d to %d of %s", pos, end, name)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			ops++
		}
		// Which segments differ from the pristine log: a zeroed range may
		// have held zeros already.
		damaged := map[uint64]bool{}
		for _, f := range corruptSnapshot(t, rdir) {
			i := slices.IndexFunc(pristine, func(p corruptFile) bool { return p.name == f.name })
			if !bytes.Equal(f.data, pristine[i].data) {
				base, ok := segmenttest.BaseOf(f.name)
				if !ok {
					t.Fatalf("%s is no segment file", f.name)
				}
				damaged[base] = true
			}
		}
		if len(damaged) == 0 {
			noops++
		}

		// evlog check, before anything opens the log: it must flag exactly
		// the damaged segments.
		report := corruptCheck(t, bin, rdir, len(damaged) > 0)
		for _, s := range report.Segments {
			if damaged[s.BaseOffset] != (s.Status == segment.StatusDamaged) {
				t.Fatalf("evlog check says segment %d is %s; damaged: %v\n%q", s.BaseOffset, s.Status, damaged[s.BaseOffset], s.Problems)
			}
		}

		n := startNode(t, url, rdir, smallSegments(), service.Config{})
		bad := corruptReadEach(t, nc, want)
		corruptReadBatches(t, nc, want, bad)
		damagedReads += len(bad)
		cleanReads += len(want) - len(bad)
		// The service serves exactly the records that check found intact.
		for _, s := range report.Segments {
			readable := uint64(0)
			for off := range uint64(len(want)) {
				if corruptSegmentOf(report, off) == s.BaseOffset && !bad[off] {
					readable++
				}
			}
			if readable != s.Records {
				t.Fatalf("segment %d: the service serves %d records, evlog check counts %d intact", s.BaseOffset, readable, s.Records)
			}
		}
		for off := range bad {
			if !damaged[corruptSegmentOf(report, off)] {
				t.Fatalf("offset %d reads as corrupt, but its segment is intact", off)
			}
		}

		// The service goes on.
		info, err := c.Info(ctx)
		if err != nil || info.LowestOffset != 0 || info.NextOffset != uint64(len(want)) {
			t.Fatalf("info after damage: %+v, %v", info, err)
		}
		rep, err := c.Append(ctx, messages.Record{Value: []byte("after the damage")})
		if err != nil || rep.FirstOffset != uint64(len(want)) {
			t.Fatalf("append after damage: %+v, %v", rep, err)
		}
		rr, err := c.Read(ctx, rep.FirstOffset, client.ReadOptions{})
		if err != nil || len(rr.Records) != 1 || string(rr.Records[0].Value) != "after the damage" {
			t.Fatalf("read after damage: %+v, %v", rr, err)
		}
		n.stop(t)
		t.Logf("  %d damaged segments, %d records read as corrupt", len(damaged), len(bad))
	}
	t.Logf("corruption campaign (seed %d): %d rounds, %d damage operations (%d rounds left the bytes as they were), "+
		"%d reads refused as corrupt, %d records read back intact, 0 wrong records returned",
		seed, rounds, ops, noops, damagedReads, cleanReads)
	if damagedReads == 0 {
		t.Fatal("no damage was ever seen: the campaign damages nothing")
	}
}

// corruptSnapshot returns the files of dir, sorted by name: each segment's
// index before its store.
func corruptSnapshot(t *testing.T, dir string) []corruptFile {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []corruptFile
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, corruptFile{e.Name(), b})
	}
	return files
}

func corruptRestore(t *testing.T, dir string, files []corruptFile) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// corruptCheck runs `evlog check --json` on dir and returns its report.
func corruptCheck(t *testing.T, bin, dir string, damaged bool) segment.CheckReport {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "check", "--dir", dir, "--json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil && damaged:
		t.Fatalf("evlog check exits 0 on a damaged log:\n%s", stdout.Bytes())
	case err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1 && damaged):
		t.Fatalf("evlog check: %v\n%s%s", err, stdout.Bytes(), stderr.Bytes())
	}
	var rep segment.CheckReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("evlog check --json: %v\n%s", err, stdout.Bytes())
	}
	return rep
}

// corruptSegmentOf returns the base of the segment that holds off.
func corruptSegmentOf(rep segment.CheckReport, off uint64) uint64 {
	base := rep.Segments[0].BaseOffset
	for _, s := range rep.Segments {
		if s.BaseOffset <= off {
			base = s.BaseOffset
		}
	}
	return base
}

// corruptReadAll reads the records [0, n) one request at a time.
func corruptReadAll(t *testing.T, nc *nats.Conn, n int) []messages.Record {
	t.Helper()
	c := client.New(nc)
	var all []messages.Record
	for len(all) < n {
		rr, err := c.Read(ctxT(t), uint64(len(all)), client.ReadOptions{MaxRecords: 100})
		if err != nil {
			t.Fatalf("read %d: %v", len(all), err)
		}
		all = append(all, rr.Records...)
	}
	return all
}

// corruptReadEach reads every record of want alone, with raw requests. A
// reply must be byte for byte the reply of the intact record; an error
// must be 500 and say that the record is corrupt. It returns the offsets
// that failed.
func corruptReadEach(t *testing.T, nc *nats.Conn, want []messages.Record) map[uint64]bool {
	t.Helper()
	bad := map[uint64]bool{}
	for off := range want {
		body, err := messages.Marshal(&messages.ReadRequest{Offset: uint64(off)})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := nc.Request("evlog.read", body, 10*time.Second)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if corruptRefused(t, msg, uint64(off)) {
			bad[uint64(off)] = true
			continue
		}
		if exp := corruptReply(t, want[off:off+1], uint64(off)); !bytes.Equal(msg.Data, exp) {
			t.Fatalf("read %d returned %x, want %x", off, msg.Data, exp)
		}
	}
	return bad
}

// corruptReadBatches reads the log in batches of random sizes, skipping
// over the records known to be bad: every batch must stop before a bad
// record or be refused as corrupt, and hold only intact records.
func corruptReadBatches(t *testing.T, nc *nats.Conn, want []messages.Record, bad map[uint64]bool) {
	t.Helper()
	for off := uint64(0); off < uint64(len(want)); {
		max := uint64(1 + off%97)
		body, err := messages.Marshal(&messages.ReadRequest{Offset: off, MaxRecords: max})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := nc.Request("evlog.read", body, 10*time.Second)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if corruptRefused(t, msg, off) {
			if !bad[off] {
				t.Fatalf("read of %d records from %d refused, but the record at %d reads alone", max, off, off)
			}
			off++
			continue
		}
		var rr messages.ReadReply
		if err := messages.Unmarshal(msg.Data, &rr); err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		got := uint64(len(rr.Records))
		if got == 0 || got > max || rr.NextOffset != off+got {
			t.Fatalf("read %d records from %d: got %d, next %d", max, off, got, rr.NextOffset)
		}
		for o := off; o < off+got; o++ {
			if bad[o] {
				t.Fatalf("read from %d returned record %d, which reads as corrupt alone", off, o)
			}
		}
		if exp := corruptReply(t, want[off:off+got], off); !bytes.Equal(msg.Data, exp) {
			t.Fatalf("read of %d records from %d is not byte for byte the stored records", got, off)
		}
		off += got
	}
}

// corruptRefused reports whether msg is an error reply, failing the test
// unless it is a 500 that says the record is corrupt.
func corruptRefused(t *testing.T, msg *nats.Msg, off uint64) bool {
	t.Helper()
	code := msg.Header.Get("Nats-Service-Error-Code")
	if code == "" {
		return false
	}
	desc := msg.Header.Get("Nats-Service-Error")
	if code != "500" || !(strings.Contains(desc, "corrupt") || strings.Contains(desc, "checksum")) || len(msg.Data) != 0 {
		t.Fatalf("read %d: error %s %q, want 500 naming the corruption", off, code, desc)
	}
	return true
}

// corruptReply is the read reply of recs, from off on.
func corruptReply(t *testing.T, recs []messages.Record, off uint64) []byte {
	t.Helper()
	var raw []byte
	for i := range recs {
		b, err := messages.Marshal(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	return messages.AppendReadReply(nil, len(recs), raw, off+uint64(len(recs)))
}

// TestCorruptBatchReadStopsAtDamage reads a batch that runs into a damaged
// record: the intact records before it come back, and the read that starts
// at it gets the error, so that a reader following the log gets every
// intact record and learns exactly which one is lost.
func TestCorruptBatchReadStopsAtDamage(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	dir := t.TempDir()
	n := startNode(t, ns.ClientURL(), dir, segment.Config{}, service.Config{})
	nc := connect(t, ns.ClientURL())
	c := client.New(nc)
	ctx := ctxT(t)
	var recs []messages.Record
	for i := range 10 {
		recs = append(recs, rec(val(i)))
	}
	if _, err := c.Append(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	want := corruptReadAll(t, nc, 10)
	n.stop(t)
	// Flip a bit in the last byte of record 5, the value's last byte.
	segmenttest.FlipRecordBit(t, segmenttest.Segments(t, dir)[0].Store, 5)
	startNode(t, ns.ClientURL(), dir, segment.Config{}, service.Config{})

	for _, from := range []uint64{0, 3} {
		rr, err := c.Read(ctx, from, client.ReadOptions{MaxRecords: 10})
		if err != nil {
			t.Fatalf("read from %d: %v, want the intact records up to 5", from, err)
		}
		if rr.NextOffset != 5 || len(rr.Records) != int(5-from) {
			t.Fatalf("read from %d: %d records, next %d; want up to 5", from, len(rr.Records), rr.NextOffset)
		}
		for i, r := range rr.Records {
			if w := want[from+uint64(i)]; r.Offset != w.Offset || !bytes.Equal(r.Value, w.Value) || r.Timestamp != w.Timestamp {
				t.Fatalf("record %d: %+v, want %+v", w.Offset, r, w)
			}
		}
	}
	_, err := c.Read(ctx, 5, client.ReadOptions{MaxRecords: 10})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != 500 || !strings.Contains(ce.Description, "offset 5") || !strings.Contains(ce.Description, "checksum") {
		t.Fatalf("read of the damaged record: %v, want 500 naming offset 5 and the checksum", err)
	}
	rr, err := c.Read(ctx, 6, client.ReadOptions{MaxRecords: 10})
	if err != nil || len(rr.Records) != 4 || rr.NextOffset != 10 {
		t.Fatalf("read after the damaged record: %+v, %v", rr, err)
	}
}
