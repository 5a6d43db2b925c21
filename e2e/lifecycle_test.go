package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
	// Aliased: the e2e harness has a type node.
	evnode "github.com/evlog/evlog/service/node"
)

// readAll reads every record of the log through the service.
func readAll(t *testing.T, c *client.Client) []messages.Record {
	t.Helper()
	ctx := ctxT(t)
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var all []messages.Record
	for off := info.LowestOffset; off < info.NextOffset; {
		rep, err := c.Read(ctx, off, client.ReadOptions{MaxRecords: 1000})
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		all = append(all, rep.Records...)
		off = rep.NextOffset
	}
	return all
}

func TestGracefulShutdownInFlight(t *testing.T) {
	e := newEnv(t, service.Config{})
	const writers = 16
	var (
		mu      sync.Mutex
		acked   = map[uint64]string{}
		refused = 0 // 503 answered by the service while it stopped
		absent  = 0 // no responders once it had unsubscribed
	)
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			ctx := ctxT(t)
			for i := 0; ; i++ {
				v := fmt.Sprintf("w%d-%d", w, i)
				rep, err := e.c.Append(ctx, rec([]byte(v)))
				mu.Lock()
				switch {
				case err == nil:
					if prev, dup := acked[rep.FirstOffset]; dup {
						errc <- fmt.Errorf("offset %d acknowledged for %q and %q", rep.FirstOffset, prev, v)
					}
					acked[rep.FirstOffset] = v
				case errors.Is(err, client.ErrUnavailable):
					var ce *client.Error
					if errors.As(err, &ce) && ce.Description != "" {
						refused++
					} else {
						absent++
					}
				default:
					errc <- fmt.Errorf("append %s: %v", v, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	waitFor(t, "appends to flow", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 300
	})
	e.node.stop(t)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged, %d refused with 503, %d found no service", len(acked), refused, absent)

	// Restart on the same directory: the log holds exactly the
	// acknowledged records, and offsets continue.
	startNode(t, e.url, e.node.dir, smallSegments(), service.Config{})
	all := readAll(t, e.c)
	if len(all) != len(acked) {
		t.Fatalf("log holds %d records, %d were acknowledged", len(all), len(acked))
	}
	for i, r := range all {
		if r.Offset != uint64(i) || acked[r.Offset] != string(r.Value) {
			t.Fatalf("record %d: offset %d value %q, acknowledged %q", i, r.Offset, r.Value, acked[r.Offset])
		}
	}
	rep, err := e.c.Append(ctxT(t), rec([]byte("after restart")))
	if err != nil || rep.FirstOffset != uint64(len(all)) {
		t.Fatalf("append after restart: %+v %v", rep, err)
	}
}

// TestRefusedDuringShutdown stops the service while thousands of appends
// are on their way to it. The server has routed all of them to the
// service's connection before Stop (the sender flushed), so each must get
// an answer: an acknowledgement if the service took it before stopping,
// 503 if it arrived during the shutdown. None may be lost.
func TestRefusedDuringShutdown(t *testing.T) {
	e := newEnv(t, service.Config{})
	const n = 2000
	replies := make(chan *nats.Msg, n)
	inbox := nats.NewInbox()
	sub, err := e.nc.Subscribe(inbox+".*", func(m *nats.Msg) { replies <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for i := range n {
		body := cat(fixmap(1), str("records"), fixarray(1), fixmap(1), str("value"), bin8(fmt.Sprint(i)))
		if err := e.nc.PublishRequest("evlog.append", fmt.Sprintf("%s.%d", inbox, i), body); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	e.node.stop(t)

	acked := map[uint64]string{}
	refused := 0
	timeout := time.After(10 * time.Second)
	for range n {
		var m *nats.Msg
		select {
		case m = <-replies:
		case <-timeout:
			t.Fatalf("%d acknowledged and %d refused of %d requests", len(acked), refused, n)
		}
		switch code := m.Header.Get("Nats-Service-Error-Code"); code {
		case "":
			var rep messages.AppendReply
			if err := messages.Unmarshal(m.Data, &rep); err != nil {
				t.Fatal(err)
			}
			acked[rep.FirstOffset] = m.Subject[len(inbox)+1:]
		case "503":
			refused++
		default:
			t.Fatalf("error %s: %s", code, m.Header.Get("Nats-Service-Error"))
		}
	}
	if refused == 0 {
		t.Fatalf("all %d appends acknowledged before the shutdown", n)
	}
	t.Logf("%d acknowledged, %d refused with 503", len(acked), refused)

	startNode(t, e.url, e.node.dir, smallSegments(), service.Config{})
	all := readAll(t, e.c)
	if len(all) != len(acked) {
		t.Fatalf("log holds %d records, %d were acknowledged", len(all), len(acked))
	}
	for _, r := range all {
		if acked[r.Offset] != string(r.Value) {
			t.Fatalf("offset %d holds %q, acknowledged for %q", r.Offset, r.Value, acked[r.Offset])
		}
	}
	// Stop is idempotent.
	if err := e.node.svc.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func TestRestartContinuesOffsets(t *testing.T) {
	e := newEnv(t, service.Config{})
	ctx := ctxT(t)
	appendConcurrently(t, e, "a", 1, 700, 100)
	e.node.stop(t)

	n := startNode(t, e.url, e.node.dir, smallSegments(), service.Config{})
	if got := n.svc.CommittedOffset(); got != 700 {
		t.Fatalf("committed offset after restart %d", got)
	}
	rep, err := e.c.Append(ctx, rec([]byte("b")))
	if err != nil || rep.FirstOffset != 700 {
		t.Fatalf("append after restart: %+v %v", rep, err)
	}
	all := readAll(t, e.c)
	if len(all) != 701 || string(all[699].Value) != "a0-699" || string(all[700].Value) != "b" {
		t.Fatalf("after restart: %d records", len(all))
	}
}

func TestSecondInstanceRefused(t *testing.T) {
	e := newEnv(t, service.Config{})
	_, err := tryNode(e.url, t.TempDir(), segment.Config{}, service.Config{})
	if !errors.Is(err, service.ErrPrefixInUse) {
		t.Fatalf("second instance on the same prefix: %v", err)
	}
	// Another prefix is another log.
	other := startNode(t, e.url, t.TempDir(), segment.Config{}, service.Config{Prefix: "evlog2"})
	if _, err := client.New(e.nc, client.WithPrefix("evlog2")).Append(ctxT(t), rec([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if other.svc.CommittedOffset() != 1 || e.node.svc.CommittedOffset() != 0 {
		t.Fatal("appends reached the wrong log")
	}
	// A monitor that subscribes without answering does not block a start.
	mon := connect(t, e.url)
	if _, err := mon.Subscribe("evlog3.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	if err := mon.Flush(); err != nil {
		t.Fatal(err)
	}
	startNode(t, e.url, t.TempDir(), segment.Config{}, service.Config{Prefix: "evlog3", ProbeTimeout: 50 * time.Millisecond})
}

// running is a node.Run in the background.
type running struct {
	url    string
	cancel context.CancelFunc
	errc   chan error
	once   sync.Once
	err    error
}

// runEvlog runs node.Run in the background until the test ends.
func runEvlog(t *testing.T, o evnode.Options) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, errc: make(chan error, 1)}
	ready := make(chan string, 1)
	o.Ready = func(u string) { ready <- u }
	go func() { r.errc <- evnode.Run(ctx, o) }()
	select {
	case r.url = <-ready:
	case err := <-r.errc:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("run not ready")
	}
	t.Cleanup(func() { r.stop() })
	return r
}

// wait returns Run's error once it has returned on its own.
func (r *running) wait(timeout time.Duration) (done bool, err error) {
	select {
	case err := <-r.errc:
		r.once.Do(func() { r.err = err })
		return true, err
	case <-time.After(timeout):
		return false, nil
	}
}

// stop cancels Run's context and returns its error.
func (r *running) stop() error {
	r.cancel()
	r.once.Do(func() { r.err = <-r.errc })
	return r.err
}

func TestRunEmbedded(t *testing.T) {
	dir := t.TempDir()
	r := runEvlog(t, evnode.Options{Dir: dir, NATSListen: "127.0.0.1:-1", SyncMode: segment.SyncInterval})
	nc := connect(t, r.url)
	c := client.New(nc)
	for i := range 3 {
		if rep, err := c.Append(ctxT(t), rec(val(i))); err != nil || rep.FirstOffset != uint64(i) {
			t.Fatalf("append: %+v %v", rep, err)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	// Stopped cleanly: the log reopens without repairs and holds it all.
	l, err := segment.NewLog(dir, segment.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if rs := l.Recovered(); len(rs) != 0 {
		t.Fatalf("log needed recovery after a graceful stop: %+v", rs)
	}
	if l.NextOffset() != 3 {
		t.Fatalf("next offset %d", l.NextOffset())
	}
}

func TestRunExternalSignal(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	dir := t.TempDir()
	r := runEvlog(t, evnode.Options{Dir: dir, NATSURL: ns.ClientURL(), Prefix: "ext"})
	if r.url != ns.ClientURL() {
		t.Fatalf("ready with %s", r.url)
	}
	c := client.New(connect(t, r.url), client.WithPrefix("ext"))
	if _, err := c.Append(ctxT(t), rec([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	// A second instance of the prefix refuses to start and leaves its
	// directory usable.
	dir2 := t.TempDir()
	err := evnode.Run(context.Background(), evnode.Options{Dir: dir2, NATSURL: ns.ClientURL(), Prefix: "ext"})
	if !errors.Is(err, service.ErrPrefixInUse) {
		t.Fatalf("second run: %v", err)
	}
	if l, err := segment.NewLog(dir2, segment.Config{}); err != nil {
		t.Fatalf("reopen after refused start: %v", err)
	} else {
		l.Close()
	}

	// SIGTERM stops it gracefully.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ok, err := r.wait(10 * time.Second)
	if !ok {
		t.Fatal("SIGTERM did not stop run")
	}
	if err != nil {
		t.Fatalf("run after SIGTERM: %v", err)
	}
	if _, err := c.Info(ctxT(t)); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("info after stop: %v", err)
	}
}

// TestStopWhileDisconnected: a service whose NATS server has gone stops
// without waiting out flush timeouts for answers that cannot come, and
// without calling the requested stop a failure.
func TestStopWhileDisconnected(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	n := startNode(t, ns.ClientURL(), t.TempDir(), smallSegments(), service.Config{})
	ns.Shutdown()
	ns.WaitForShutdown()
	waitFor(t, "the service's connection to notice", func() bool { return !n.nc.IsConnected() })
	// Stopped here rather than by the cleanup, whose flush needs a server.
	n.once.Do(func() {
		start := time.Now()
		if err := n.svc.Stop(); err != nil {
			t.Errorf("stop while disconnected: %v", err)
		}
		// The flushes it used to wait for time out after 10 s each.
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("stop while disconnected took %v", took)
		}
		if err := n.local.Close(); err != nil {
			t.Errorf("close local log: %v", err)
		}
		n.nc.Close()
		if err := n.log.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
	})
}
