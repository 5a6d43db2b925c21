package service

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/servicetest"
)

// fakeLeadership is a Leadership the test sets.
type fakeLeadership struct {
	mu       sync.Mutex
	leader   bool
	leaderID string
	changed  chan struct{}
}

func newFakeLeadership() *fakeLeadership { return &fakeLeadership{changed: make(chan struct{})} }

func (f *fakeLeadership) Leader() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader
}

func (f *fakeLeadership) LeaderChanged() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fakeLeadership) LeaderAddr() (addr, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.leaderID == "" {
		return "", ""
	}
	return f.leaderID + ".example:7000", f.leaderID
}

// set makes the node leader or not, with leaderID the leader's id, and
// tells the watchers unless quiet: a quiet change is one the service has
// not noticed yet.
func (f *fakeLeadership) set(leader bool, leaderID string, quiet bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leader, f.leaderID = leader, leaderID
	if !quiet {
		close(f.changed)
		f.changed = make(chan struct{})
	}
}

// applyRemote commits n records that another node appended: a Commit
// with no appends of this node's, as a replica delivers it.
func (f *fakeLog) applyRemote(t *testing.T, n int) {
	t.Helper()
	f.deliverMu.Lock()
	defer f.deliverMu.Unlock()
	f.mu.Lock()
	first := f.lowest + uint64(len(f.encoded))
	for i := range n {
		b, err := messages.Marshal(&messages.Record{Offset: first + uint64(i), Value: []byte("remote")})
		if err != nil {
			t.Fatal(err)
		}
		f.encoded = append(f.encoded, b)
	}
	f.committed = first + uint64(n)
	close(f.changed)
	f.changed = make(chan struct{})
	fn := f.fn
	f.mu.Unlock()
	fn(Commit{First: first, Last: first + uint64(n) - 1})
}

// giveUp delivers what the log holds with err, as a replicated log does
// with an append the apply refused.
func (f *fakeLog) giveUp(err error) {
	f.deliverMu.Lock()
	defer f.deliverMu.Unlock()
	f.mu.Lock()
	held, fn := f.held, f.fn
	f.held = nil
	f.encoded = f.encoded[:f.committed-f.lowest]
	f.mu.Unlock()
	fn(Commit{Appends: held, Err: err})
}

func clusterConfig(ld Leadership) Config {
	return Config{Leadership: ld, ReadQueueGroup: "evlog-reads"}
}

// appendRaw sends an append and returns the reply or the request's
// error.
func (e *fakeEnv) appendRaw(v ...string) (*nats.Msg, error) {
	body, _ := messages.Marshal(appendReq(v...))
	return e.nc.Request("evlog.append", body, time.Second)
}

func TestClusterWritesFollowLeadership(t *testing.T) {
	ld := newFakeLeadership()
	e := startFake(t, clusterConfig(ld), newFakeLog())
	if _, err := e.appendRaw("a"); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("append on a follower: %v, want no responders", err)
	}
	if code, _ := e.request(t, "info", nil); code != codeOK {
		t.Fatalf("info on a follower: %d", code)
	}
	ld.set(true, "n1", false)
	waitUntil(t, "the leader takes appends", func() bool {
		m, err := e.appendRaw("a")
		return err == nil && replyCode(t, m) == codeOK
	})
	if code, _ := e.request(t, "truncate", &messages.TruncateRequest{Lowest: 1}); code != codeOK {
		t.Fatalf("truncate on the leader: %d", code)
	}
	ld.set(false, "n2", false)
	waitUntil(t, "the write endpoints are gone", func() bool {
		_, err := e.appendRaw("b")
		return errors.Is(err, nats.ErrNoResponders)
	})
}

func TestClusterFollowerAnswers503(t *testing.T) {
	ld := newFakeLeadership()
	ld.set(true, "n1", false)
	e := startFake(t, clusterConfig(ld), newFakeLog())
	waitUntil(t, "the leader takes appends", func() bool {
		m, err := e.appendRaw("a")
		return err == nil && replyCode(t, m) == codeOK
	})
	// Leadership lost, and the endpoints still up: a request on its way
	// when the node lost.
	for _, tc := range []struct {
		name, leader string
	}{{"leader known", "n2"}, {"election", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			ld.set(false, tc.leader, true)
			for _, endpoint := range []string{"append", "truncate"} {
				var body []byte
				if endpoint == "append" {
					body, _ = messages.Marshal(appendReq("b"))
				} else {
					body, _ = messages.Marshal(&messages.TruncateRequest{Lowest: 0})
				}
				m, err := e.nc.Request("evlog."+endpoint, body, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if c := replyCode(t, m); c != messages.CodeUnavailable {
					t.Fatalf("%s on a follower: %d, want 503", endpoint, c)
				}
				if got := m.Header.Get(messages.LeaderHeader); got != tc.leader {
					t.Fatalf("%s: %s %q, want %q", endpoint, messages.LeaderHeader, got, tc.leader)
				}
				if _, ok := m.Header[messages.LeaderHeader]; !ok {
					t.Fatalf("%s: no %s header", endpoint, messages.LeaderHeader)
				}
				if d := m.Header.Get("Nats-Service-Error"); !strings.Contains(d, "not the leader") || !strings.Contains(d, tc.leader) {
					t.Fatalf("%s: description %q", endpoint, d)
				}
			}
		})
	}
}

// nextCommitted returns the next notification on sub.
func nextCommitted(t *testing.T, sub *nats.Subscription) messages.Committed {
	t.Helper()
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no committed notification: %v", err)
	}
	var c messages.Committed
	if err := messages.Unmarshal(m.Data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClusterCommittedLeaderOnly(t *testing.T) {
	ld := newFakeLeadership()
	log := newFakeLog()
	e := startFake(t, clusterConfig(ld), log)
	sub, err := e.nc.SubscribeSync("evlog.committed")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	log.applyRemote(t, 2)
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("a follower announced %q", m.Data)
	}
	// The new leader announces what no one did, then its own commits.
	ld.set(true, "n1", false)
	if got, want := nextCommitted(t, sub), (messages.Committed{FirstOffset: 0, LastOffset: 1}); got != want {
		t.Fatalf("catch-up %+v, want %+v", got, want)
	}
	waitUntil(t, "the leader takes appends", func() bool {
		m, err := e.appendRaw("c")
		return err == nil && replyCode(t, m) == codeOK
	})
	if got, want := nextCommitted(t, sub), (messages.Committed{FirstOffset: 2, LastOffset: 2}); got != want {
		t.Fatalf("own commit %+v, want %+v", got, want)
	}
	// Another leader announces 3-5, and dies before it announces 6.
	ld.set(false, "n2", false)
	waitUntil(t, "the write endpoints are gone", func() bool {
		_, err := e.appendRaw("x")
		return errors.Is(err, nats.ErrNoResponders)
	})
	log.applyRemote(t, 3)
	other, _ := messages.Marshal(&messages.Committed{FirstOffset: 3, LastOffset: 5})
	if err := e.nc.Publish("evlog.committed", other); err != nil {
		t.Fatal(err)
	}
	nextCommitted(t, sub)
	log.applyRemote(t, 1)
	// Seen by the node: its own subscription is served in order, so a
	// flush round trip of the node's connection would do; poll instead.
	waitUntil(t, "the node saw the other leader's announcement", func() bool {
		e.svc.announcer.mu.Lock()
		defer e.svc.announcer.mu.Unlock()
		return e.svc.announcer.next == 6
	})
	ld.set(true, "n1", false)
	if got, want := nextCommitted(t, sub), (messages.Committed{FirstOffset: 6, LastOffset: 6}); got != want {
		t.Fatalf("after the other leader: %+v, want %+v", got, want)
	}
}

func TestClusterReplicatedConflict(t *testing.T) {
	ld := newFakeLeadership()
	ld.set(true, "n1", false)
	log := newFakeLog()
	e := startFake(t, clusterConfig(ld), log)
	waitUntil(t, "the leader takes appends", func() bool {
		m, err := e.appendRaw("a")
		return err == nil && replyCode(t, m) == codeOK
	})
	log.mu.Lock()
	log.hold = true
	log.mu.Unlock()
	sub, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	expected := uint64(0)
	body, _ := messages.Marshal(&messages.AppendRequest{Records: []messages.Record{{Value: []byte("b")}}, ExpectedOffset: &expected})
	if err := e.nc.PublishRequest("evlog.append", sub.Subject, body); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the append held", func() bool { return e.svc.Stats().PendingAppends == 1 })
	log.giveUp(&ConflictError{Expected: 0, NextOffset: 1})
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c := replyCode(t, m); c != messages.CodeConflict {
		t.Fatalf("conflict at commit: %d, want 409", c)
	}
	if got := m.Header.Get(messages.NextOffsetHeader); got != "1" {
		t.Fatalf("%s %q, want 1", messages.NextOffsetHeader, got)
	}
}

func TestClusterNodesShareThePrefix(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	a, b := newFakeLeadership(), newFakeLeadership()
	a.set(true, "a", false)
	startFakeOn(t, ns, clusterConfig(a), newFakeLog())
	e := startFakeOn(t, ns, clusterConfig(b), newFakeLog())
	// Both nodes serve; the reads are shared, the leader's writes not.
	for range 4 {
		if code, _ := e.request(t, "info", nil); code != codeOK {
			t.Fatalf("info: %d", code)
		}
	}
	waitUntil(t, "the leader takes appends", func() bool {
		m, err := e.appendRaw("a")
		return err == nil && replyCode(t, m) == codeOK
	})
}

func TestClusterConfig(t *testing.T) {
	nc, err := nats.Connect(servicetest.NATS(t, nil).ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, err = New(nc, newFakeLog(), Config{Leadership: newFakeLeadership()})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "ReadQueueGroup") {
		t.Fatalf("New without a read queue group: %v", err)
	}
}

func TestAppendRefusesReservedHeaders(t *testing.T) {
	e := startFake(t, Config{}, newFakeLog())
	for _, h := range messages.ReservedHeaders {
		req := &messages.AppendRequest{Records: []messages.Record{{Value: []byte("v"), Headers: map[string]string{h: "1"}}}}
		if code, _ := e.request(t, "append", req); code != messages.CodeBadRequest {
			t.Fatalf("header %s: %d, want 400", h, code)
		}
	}
}

func TestClusterReadBeyondApplied(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want int
	}{
		{"single node", Config{}, messages.CodeOffsetOutOfRange},
		{"cluster node", clusterConfig(newFakeLeadership()), messages.CodeUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := newFakeLog()
			e := startFake(t, tc.cfg, log)
			log.applyRemote(t, 2)
			if code, _ := e.request(t, "read", &messages.ReadRequest{Offset: 1}); code != codeOK {
				t.Fatalf("read of an applied record: %d", code)
			}
			if code, _ := e.request(t, "read", &messages.ReadRequest{Offset: 5}); code != tc.want {
				t.Fatalf("read beyond the applied offset: %d, want %d", code, tc.want)
			}
		})
	}
}

// TestLeaderRetriesWriteEndpoints: a leader whose write endpoints could
// not be added (a flush that timed out, a connection between reconnects)
// tries again, rather than take no writes until a leadership change that
// may never come.
func TestLeaderRetriesWriteEndpoints(t *testing.T) {
	ld := newFakeLeadership()
	e := startFake(t, clusterConfig(ld), newFakeLog())
	w := e.svc.leaderWrites
	var failures int
	w.mu.Lock()
	add := w.add
	w.add = func() (micro.Service, error) {
		if failures < 3 {
			failures++
			return nil, errors.New("flush subscriptions: nats: timeout")
		}
		return add()
	}
	w.mu.Unlock()
	ld.set(true, "n1", false)
	waitUntil(t, "the leader takes appends after failing to add its endpoints", func() bool {
		m, err := e.appendRaw("a")
		return err == nil && replyCode(t, m) == codeOK
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if failures != 3 {
		t.Fatalf("%d failed attempts, want 3", failures)
	}
}
