package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/snapshot"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
)

// richRecord is record i with a key, headers and a value whose size varies.
func richRecord(i int) messages.Record {
	return messages.Record{
		Value:   bytes.Repeat(val(i), 1+i%17),
		Key:     []byte("key-" + strconv.Itoa(i%13)),
		Headers: map[string]string{"i": strconv.Itoa(i), "kind": "test"},
	}
}

// appendRich appends records [from, to) of richRecord in batches.
func appendRich(tb testing.TB, c *client.Client, from, to int) {
	tb.Helper()
	for i := from; i < to; {
		var batch []messages.Record
		for ; i < to && len(batch) < 100; i++ {
			batch = append(batch, richRecord(i))
		}
		if _, err := c.Append(ctxT(tb), batch...); err != nil {
			tb.Fatalf("append: %v", err)
		}
	}
}

// readRange reads every record of [from, next) from the service.
func readRange(tb testing.TB, c *client.Client, from, next uint64) []messages.Record {
	tb.Helper()
	var all []messages.Record
	for off := from; off < next; {
		rr, err := c.Read(ctxT(tb), off, client.ReadOptions{MaxRecords: 1000})
		if err != nil {
			tb.Fatalf("read %d: %v", off, err)
		}
		all = append(all, rr.Records...)
		off = rr.NextOffset
	}
	return all
}

// restoreStream writes the snapshot stream into a new log in dir, as evlog
// restore does, and returns its header.
func restoreStream(tb testing.TB, stream []byte, dir string) snapshot.Header {
	tb.Helper()
	sr, err := snapshot.NewReader(bytes.NewReader(stream))
	if err != nil {
		tb.Fatal(err)
	}
	c := smallSegments()
	c.Segment.InitialOffset = sr.Header().First
	l, err := segment.NewLog(dir, c)
	if err != nil {
		tb.Fatal(err)
	}
	for {
		rec, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			_, err = l.AppendUnsynced([]*messages.Record{rec})
		}
		if err != nil {
			l.Close()
			tb.Fatal(err)
		}
	}
	if err := errors.Join(l.Sync(), l.Close()); err != nil {
		tb.Fatal(err)
	}
	return sr.Header()
}

// TestSnapshotRestoreRoundTrip takes a snapshot over NATS of a log with
// several segments, restores it into a new log, serves that, and reads
// back every record as the first log served it.
func TestSnapshotRestoreRoundTrip(t *testing.T) {
	e := newEnv(t, service.Config{})
	appendRich(t, e.c, 0, 3000)
	if _, err := e.c.Truncate(ctxT(t), 500); err != nil {
		t.Fatal(err)
	}
	info, err := e.c.Info(ctxT(t))
	if err != nil || info.LowestOffset == 0 || info.Segments < 3 {
		t.Fatalf("info %+v, %v: want a truncated log of several segments", info, err)
	}
	want := readRange(t, e.c, info.LowestOffset, info.NextOffset)

	var stream bytes.Buffer
	sum, err := e.c.Snapshot(ctxT(t), &stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sum.First != info.LowestOffset || sum.Next != 3000 || sum.Bytes != int64(stream.Len()) || sum.Chunks < 1 {
		t.Fatalf("summary %+v, info %+v", sum, info)
	}
	dir := t.TempDir()
	if h := restoreStream(t, stream.Bytes(), dir); h.First != sum.First || h.Next != sum.Next {
		t.Fatalf("header %+v, summary %+v", h, sum)
	}

	ns := servicetest.NATS(t, nil)
	startNode(t, ns.ClientURL(), dir, smallSegments(), service.Config{})
	rc := client.New(connect(t, ns.ClientURL()))
	got := readRange(t, rc, sum.First, sum.Next)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("restored log serves %d records unlike the %d of the original", len(got), len(want))
	}
	if rinfo, err := rc.Info(ctxT(t)); err != nil || rinfo.LowestOffset != info.LowestOffset || rinfo.NextOffset != info.NextOffset {
		t.Fatalf("restored info %+v, %v; original %+v", rinfo, err, info)
	}
}

// newEnvWith is newEnv with the server options mod changes (if not nil)
// and the log config lc.
func newEnvWith(tb testing.TB, mod func(*server.Options), lc segment.Config, cfg service.Config) *env {
	tb.Helper()
	ns := servicetest.NATS(tb, mod)
	e := &env{ns: ns, url: ns.ClientURL()}
	e.node = startNode(tb, e.url, tb.TempDir(), lc, cfg)
	e.nc = connect(tb, e.url)
	e.c = client.New(e.nc)
	return e
}

// slowWriter takes its time over each chunk, so that appends race a
// snapshot in progress.
type slowWriter struct{ bytes.Buffer }

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(20 * time.Millisecond)
	return w.Buffer.Write(p)
}

// TestSnapshotExactCut takes a snapshot while appenders keep appending:
// it holds exactly the records committed when it began, none after.
func TestSnapshotExactCut(t *testing.T) {
	// Chunks of 32 KiB, so that the snapshot comes in many, and appends
	// that do not wait for the disk, so that many race it.
	lc := smallSegments()
	lc.Sync.Mode = segment.SyncNever
	e := newEnvWith(t, func(o *server.Options) { o.MaxPayload = 32 << 10 }, lc, service.Config{})
	appendRich(t, e.c, 0, 4000)
	before := e.node.svc.CommittedOffset()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var appended atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := e.c.Append(ctx, rec([]byte("during"))); err == nil {
					appended.Add(1)
				}
			}
		}()
	}
	waitFor(t, "appends to run", func() bool { return appended.Load() > 0 })
	var w slowWriter
	a0 := uint64(appended.Load())
	sum, err := e.c.Snapshot(ctxT(t), &w, 0)
	a1 := uint64(appended.Load())
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	// Appends acknowledged before the request are in it; those
	// acknowledged after it ended are not (nor the two, one per
	// appender, that may be committed but not yet acknowledged).
	if sum.Next < before+a0 || sum.Next > before+a1+2 || sum.Chunks < 10 {
		t.Fatalf("snapshot ends at %d in %d chunks; committed %d before it, %d after", sum.Next, sum.Chunks, before+a0, before+a1)
	}
	if a1-a0 < 10 {
		t.Fatalf("only %d appends ran during the snapshot", a1-a0)
	}
	sr, err := snapshot.NewReader(bytes.NewReader(w.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want := readRange(t, e.c, 0, sum.Next)
	for i := 0; ; i++ {
		r, err := sr.Next()
		if errors.Is(err, io.EOF) {
			if uint64(i) != sum.Next {
				t.Fatalf("%d records, want %d", i, sum.Next)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*r, want[i]) {
			t.Fatalf("record %d: %+v, the log holds %+v", i, r, want[i])
		}
	}
}

// TestSnapshotAbandonedMemory asks for a snapshot of a large log and never
// acknowledges a chunk: the heap stays flat while the service waits, and
// after the timeout the snapshot is given up, said and counted.
func TestSnapshotAbandonedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 64 MiB log")
	}
	reg := prometheus.NewRegistry()
	// Default segments: a record of 64 KiB would not fit the small ones.
	e := newEnvWith(t, nil, segment.Config{}, service.Config{SnapshotAckTimeout: 500 * time.Millisecond, Registerer: reg})
	value := bytes.Repeat([]byte("x"), 64<<10)
	for i := 0; i < 1024; i += 8 {
		batch := make([]messages.Record, 8)
		for j := range batch {
			batch[j] = rec(value)
		}
		if _, err := e.c.Append(ctxT(t), batch...); err != nil {
			t.Fatal(err)
		}
	}
	before := heapAlloc()
	inbox := e.nc.NewInbox()
	sub, err := e.nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := e.nc.PublishRequest(e.c.Subjects().Snapshot, inbox, nil); err != nil {
		t.Fatal(err)
	}
	var got int
	var last *nats.Msg
	for last == nil {
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d chunks: %v", got, err)
		}
		if msg.Header.Get("Nats-Service-Error-Code") != "" {
			last = msg
			break
		}
		got++
		if got == 2 {
			// The service now waits for acknowledgements that never come.
			time.Sleep(200 * time.Millisecond)
			if grown := int64(heapAlloc()) - int64(before); grown > 16<<20 {
				t.Fatalf("heap grew by %d MiB while the requester was silent; the log holds 64 MiB", grown>>20)
			}
		}
	}
	if got > 4 || last.Header.Get("Nats-Service-Error-Code") != "503" {
		t.Fatalf("%d chunks, then %v", got, last.Header)
	}
	waitFor(t, "the abandoned snapshot to be counted", func() bool {
		return gatherValue(t, reg, "evlog_snapshots_abandoned_total") == 1 && gatherValue(t, reg, "evlog_snapshots_running") == 0
	})
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// gatherValue is the value of the unlabelled metric name in reg.
func gatherValue(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	tb.Fatalf("no metric %s", name)
	return 0
}

func TestSnapshotBeyondCommitted(t *testing.T) {
	e := newEnv(t, service.Config{})
	appendRich(t, e.c, 0, 10)
	var w bytes.Buffer
	if _, err := e.c.Snapshot(ctxT(t), &w, 11); !errors.Is(err, client.ErrOffsetOutOfRange) {
		t.Fatalf("got %v, want 404", err)
	}
	if w.Len() != 0 {
		t.Fatalf("wrote %d bytes", w.Len())
	}
	// At the committed offset: an empty snapshot, header and trailer.
	sum, err := e.c.Snapshot(ctxT(t), &w, 10)
	if err != nil || sum.Records() != 0 || w.Len() != snapshot.HeaderSize+snapshot.TrailerSize {
		t.Fatalf("empty snapshot %+v, %d bytes, %v", sum, w.Len(), err)
	}
}

// TestBinarySnapshotRestore is the operator's path with the real binary:
// serve, append, evlog snapshot, stop, evlog restore into a new directory,
// serve that, read back.
func TestBinarySnapshotRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	p := startBinary(t, bin, t.TempDir())
	nc := connect(t, p.url)
	c := client.New(nc)
	appendRich(t, c, 0, 1500)
	want := readRange(t, c, 0, 1500)

	file := filepath.Join(t.TempDir(), "log.snap")
	out, err := exec.Command(bin, "snapshot", "--nats-url", p.url, "--out", file).CombinedOutput()
	if err != nil {
		t.Fatalf("evlog snapshot: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("snapshot of 1500 records (offsets 0-1499)")) {
		t.Fatalf("evlog snapshot said %s", out)
	}
	nc.Close()
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.stderr)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	if out, err := exec.Command(bin, "restore", "--in", file, "--dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("evlog restore: %v\n%s", err, out)
	}
	p = startBinary(t, bin, dir)
	c = client.New(connect(t, p.url))
	if got := readRange(t, c, 0, 1500); !reflect.DeepEqual(got, want) {
		t.Fatal("the restored log serves other records")
	}
	if rep, err := c.Append(ctxT(t), rec([]byte("next"))); err != nil || rep.FirstOffset != 1500 {
		t.Fatalf("append after restore: %+v, %v", rep, err)
	}
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.stderr)
	}
}
