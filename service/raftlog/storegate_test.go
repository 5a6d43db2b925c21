package raftlog

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// blockingStore is an in-memory log store whose writes wait for release.
type blockingStore struct {
	*raft.InmemStore
	entered chan struct{}
	release chan struct{}
}

func (s *blockingStore) StoreLogs(logs []*raft.Log) error {
	s.entered <- struct{}{}
	<-s.release
	return s.InmemStore.StoreLogs(logs)
}

// TestStoreGateIdle checks that the gate reports a write under way from
// the moment StoreLogs is called until it returns, and only then.
func TestStoreGateIdle(t *testing.T) {
	store := &blockingStore{InmemStore: raft.NewInmemStore(), entered: make(chan struct{}), release: make(chan struct{})}
	cache, err := raft.NewLogCache(4, store)
	if err != nil {
		t.Fatal(err)
	}
	g := newStoreGate(cache)
	isIdle := func() bool {
		select {
		case <-g.idleCh():
			return true
		default:
			return false
		}
	}
	if !isIdle() {
		t.Fatal("a gate that has written nothing is busy")
	}
	done := make(chan error, 1)
	go func() { done <- g.StoreLog(&raft.Log{Index: 1, Data: []byte("x")}) }()
	<-store.entered
	idle := g.idleCh()
	if isIdle() {
		t.Fatal("idle while a write is under way")
	}
	close(store.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case <-idle:
	case <-time.After(5 * time.Second):
		t.Fatal("the channel taken during the write was not closed when it ended")
	}
	var got raft.Log
	if err := g.GetLog(1, &got); err != nil || string(got.Data) != "x" {
		t.Fatalf("GetLog(1) = %q, %v; want the entry written", got.Data, err)
	}
}

// TestAwaitStoreIdleBounded checks that the proposer does not wait for a
// write that never ends (a hung disk) beyond ApplyTimeout, so that the
// appends it holds go to Raft and fail there rather than hang, and that
// it stops waiting when the Log stops.
func TestAwaitStoreIdleBounded(t *testing.T) {
	store := &blockingStore{InmemStore: raft.NewInmemStore(), entered: make(chan struct{}), release: make(chan struct{})}
	cache, err := raft.NewLogCache(4, store)
	if err != nil {
		t.Fatal(err)
	}
	g := newStoreGate(cache)
	done := make(chan error, 1)
	go func() { done <- g.StoreLog(&raft.Log{Index: 1}) }()
	<-store.entered
	t.Cleanup(func() {
		close(store.release)
		<-done
	})
	l := &Log{cfg: Config{ApplyTimeout: 50 * time.Millisecond}, gate: g, stop: make(chan struct{})}
	waited := make(chan bool, 1)
	start := time.Now()
	go func() { waited <- l.awaitStoreIdle() }()
	select {
	case ok := <-waited:
		if !ok {
			t.Fatal("awaitStoreIdle gave up as if the Log were stopping")
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Fatalf("awaitStoreIdle returned after %v, before the write ended or ApplyTimeout passed", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("awaitStoreIdle still waits for a write that does not end, past ApplyTimeout")
	}
	close(l.stop)
	l.cfg.ApplyTimeout = time.Hour
	if l.awaitStoreIdle() {
		t.Fatal("awaitStoreIdle went on after the Log stopped")
	}
}
