package raftlog

import (
	"fmt"
	"sync"
	"testing"
)

// TestWriteAmplification measures what an acknowledged byte costs each
// node: the bytes written to raft-wal and to the segment log per
// acknowledged record byte, and raft-wal's appends (one fsync each) per
// acknowledged append, with 32 appends in flight. The segment log is
// never synced per apply, so raft-wal's are the only fsyncs on the path.
func TestWriteAmplification(t *testing.T) {
	c := newCluster(t, 3, nil)
	ld := c.leader()
	const (
		appends  = 400
		inFlight = 32
		value    = 1000
	)
	payload := string(make([]byte, value))
	walBefore := map[*node]WALStats{}
	segBefore := map[*node]uint64{}
	for _, nd := range c.running() {
		walBefore[nd], segBefore[nd] = nd.log.WALStats(), nd.log.Stats().Bytes
	}
	var appendMu sync.Mutex // Append is called from one goroutine at a time
	var wg sync.WaitGroup
	errs := make(chan error, inFlight)
	for w := range inFlight {
		wg.Go(func() {
			for i := w; i < appends; i += inFlight {
				a := app(fmt.Sprintf("amp-%d", i), payload)
				appendMu.Lock()
				err := ld.log.Append(a)
				appendMu.Unlock()
				if err == nil {
					err = <-a.Token.(chan error)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c.converged(appends)
	acked := float64(appends * value)
	for _, nd := range c.running() {
		ws := nd.log.WALStats()
		walBytes := float64(ws.EntryBytes - walBefore[nd].EntryBytes)
		segBytes := float64(nd.log.Stats().Bytes - segBefore[nd])
		fsyncs := ws.Appends - walBefore[nd].Appends
		amp := (walBytes + segBytes) / acked
		t.Logf("%s: %.2f bytes written per acknowledged byte (raft-wal %.2f, segment log %.2f); %d raft-wal fsyncs for %d appends (%.3f per append), %d entries",
			nd.cfg.NodeID, amp, walBytes/acked, segBytes/acked, fsyncs, appends, float64(fsyncs)/appends, ws.Entries-walBefore[nd].Entries)
		if amp > 2.5 {
			t.Errorf("%s writes %.2f bytes per acknowledged byte, want at most 2.5", nd.cfg.NodeID, amp)
		}
		if fsyncs > appends {
			t.Errorf("%s: %d fsyncs for %d appends: appends are not grouped", nd.cfg.NodeID, fsyncs, appends)
		}
	}
}
