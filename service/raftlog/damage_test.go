package raftlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// smallSegments makes the segment log roll every few records, so that a
// test has sealed segments to damage.
func smallSegments(cfg *Config) { cfg.Segment.Segment.MaxStoreBytes = 1 << 10 }

// flipSealed flips a byte in the middle of the first sealed segment's
// store in the node directory dir, and returns the store's path. The
// segment's index stays as it was, so recovery trusts it and only a read
// of the records can find the damage.
func flipSealed(t *testing.T, dir string) string {
	t.Helper()
	stores, err := filepath.Glob(filepath.Join(dir, "log", "*.store"))
	if err != nil || len(stores) < 2 {
		t.Fatalf("want a sealed segment in %s, have stores %v (%v)", dir, stores, err)
	}
	sort.Strings(stores)
	b, err := os.ReadFile(stores[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(stores[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	return stores[0]
}

// TestDamagedFollowerFailsItsScrub: a follower whose sealed segment was
// damaged while it was down opens, and its scrub fails it with
// ErrDamaged, naming evlog check, before it has served the damage; the
// other two go on taking appends; once its directory is wiped it comes
// back and is brought up to date, byte for byte.
func TestDamagedFollowerFailsItsScrub(t *testing.T) {
	c := newCluster(t, 3, smallSegments)
	for i := range 40 {
		c.mustRetry(fmt.Sprintf("id-%d", i), fmt.Sprintf("value-%03d-%s", i, strings.Repeat("x", 60)))
	}
	c.converged(40)
	ld := c.leader()
	var f *node
	for _, nd := range c.running() {
		if nd != ld {
			f = nd
		}
	}
	c.stop(f)
	flipSealed(t, f.cfg.Dir)

	f.cfg.Dedup.Window = time.Nanosecond // so that the open reads back nothing but the last record
	l, err := Open(f.cfg)
	if err != nil {
		t.Fatalf("open of a node with a damaged sealed segment: %v", err)
	}
	select {
	case <-l.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("the scrub did not find the damaged sealed segment")
	}
	if err := l.Err(); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "evlog check") {
		t.Fatalf("damaged node failed with %v, want ErrDamaged naming evlog check", err)
	}
	if err := l.Close(); err != nil {
		t.Logf("close of the failed node: %v", err)
	}
	f.cfg.Dedup.Window = 0
	for i := range 5 {
		c.mustRetry(fmt.Sprintf("meanwhile-%d", i), "m")
	}

	wipe(t, f.cfg.Dir)
	c.restart(f)
	c.converged(45)
}

// TestDamageInTheDedupWindowRefusedAtOpen: damage in the records that
// the open reads back to rebuild the dedup table is ErrDamaged at once,
// since the ids of the damaged records would be lost to this replica's
// decisions alone. After a clean stop the table comes from its checkpoint
// instead, which lost nothing; the scrub then finds the damage.
func TestDamageInTheDedupWindowRefusedAtOpen(t *testing.T) {
	c := newCluster(t, 3, smallSegments)
	for i := range 40 {
		c.mustRetry(fmt.Sprintf("id-%d", i), fmt.Sprintf("value-%03d-%s", i, strings.Repeat("x", 60)))
	}
	c.converged(40)
	f := c.running()[0]
	c.stop(f)
	flipSealed(t, f.cfg.Dir)
	l, err := Open(f.cfg)
	if err != nil {
		t.Fatalf("open with the checkpoint of a clean stop: %v", err)
	}
	select {
	case <-l.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("the scrub did not find the damage in the dedup window")
	}
	if err := l.Err(); !errors.Is(err, ErrDamaged) {
		t.Fatalf("damaged node failed with %v, want ErrDamaged", err)
	}
	// The checkpoint is gone already, as a kill -9 of the failed node
	// would leave it, before any close: the next open reads the window.
	if _, err := os.Stat(filepath.Join(f.cfg.Dir, idsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed node's append ids are still there: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Logf("close of the failed node: %v", err)
	}
	l, err = Open(f.cfg)
	if err == nil {
		_ = l.Close()
		t.Fatal("a node with damage in its dedup window opened")
	}
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "evlog check") {
		t.Fatalf("open: %v, want ErrDamaged naming evlog check", err)
	}
}

// TestScrubPassesAnIntactLog: the scrub of an intact log, on a node
// restarted with sealed segments, reads to the end and fails nothing.
func TestScrubPassesAnIntactLog(t *testing.T) {
	c := newCluster(t, 3, smallSegments)
	for i := range 40 {
		c.mustRetry(fmt.Sprintf("id-%d", i), fmt.Sprintf("value-%03d-%s", i, strings.Repeat("x", 60)))
	}
	c.converged(40)
	nd := c.running()[0]
	c.stop(nd)
	c.restart(nd)
	select {
	case <-nd.log.scrubbed:
	case <-time.After(10 * time.Second):
		t.Fatal("the scrub did not end")
	}
	select {
	case <-nd.log.Failed():
		t.Fatalf("the scrub of an intact log failed it: %v", nd.log.Err())
	default:
	}
	c.converged(40)
}

// TestDamageFoundWhileLeading: a leader whose read hits a damaged record
// fails, stops taking writes and hands its leadership to another node,
// which goes on taking appends.
func TestDamageFoundWhileLeading(t *testing.T) {
	c := newCluster(t, 3, smallSegments)
	for i := range 40 {
		c.mustRetry(fmt.Sprintf("id-%d", i), fmt.Sprintf("value-%03d-%s", i, strings.Repeat("x", 60)))
	}
	c.converged(40)
	ld := c.leader()
	flipSealed(t, ld.cfg.Dir)
	var found error
	for off := uint64(0); off < 40 && found == nil; off++ {
		_, found = readRecord(ld.log, off)
	}
	if found == nil {
		t.Fatal("no read found the damage")
	}
	select {
	case <-ld.log.Failed():
	case <-time.After(5 * time.Second):
		t.Fatal("the leader did not fail on a damaged read")
	}
	if !errors.Is(ld.log.Err(), ErrDamaged) {
		t.Fatalf("leader failed with %v, want ErrDamaged", ld.log.Err())
	}
	waitFor(t, 15*time.Second, "another leader", func() bool {
		for _, nd := range c.running() {
			if nd != ld && nd.log.Leader() {
				return true
			}
		}
		return false
	})
	if ld.log.Leader() {
		t.Fatal("the damaged node still leads")
	}
	c.mustRetry("after", "a")
}

// TestTornTailIsNotDamage: a torn tail of the active segment, which a
// crash leaves, is cut at open as always, not refused: the node starts,
// and Raft's log brings back what the cut took.
func TestTornTailIsNotDamage(t *testing.T) {
	c := newCluster(t, 3, nil)
	for i := range 20 {
		c.mustRetry(fmt.Sprintf("id-%d", i), fmt.Sprintf("value-%d", i))
	}
	c.converged(20)
	f := c.followerOf(c.leader())
	c.stop(f)
	stores, err := filepath.Glob(filepath.Join(f.cfg.Dir, "log", "*.store"))
	if err != nil || len(stores) == 0 {
		t.Fatalf("no store (%v)", err)
	}
	sort.Strings(stores)
	active := stores[len(stores)-1]
	fi, err := os.Stat(active)
	if err != nil {
		t.Fatal(err)
	}
	// Mid-frame: the last record loses its last bytes.
	if err := os.Truncate(active, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	c.restart(f)
	c.mustRetry("after", "after")
	c.converged(21)
}
