package e2e

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/client"
)

// startWriter runs w on a goroutine until the returned stop is called,
// which returns the writer's error.
func startWriter(w *clusterWriter) (stop func() error) {
	quit := make(chan struct{})
	wrote := make(chan error, 1)
	go func() { wrote <- w.run(quit) }()
	return func() error {
		close(quit)
		return <-wrote
	}
}

// TestClusterPowerLoss kills every node of a three-node cluster at once
// with SIGKILL while a client appends with ids, cuts the unsynced tail of
// each node's records as a power loss may, then restarts them all:
// the cluster elects a leader again, the client's retries go through,
// and every node's directory holds every acknowledged record once, at
// its offset, byte for byte alike.
func TestClusterPowerLoss(t *testing.T) {
	bc, c, w, _ := startClusterTest(t)

	stop := startWriter(w)
	w.awaitAcked(bc, c, "appends before the power loss", 50)
	for _, nd := range bc.nodes {
		bc.signal(nd, syscall.SIGKILL)
	}
	for _, nd := range bc.nodes {
		bc.kill(nd) // reaps it
	}
	before := w.acked()
	t.Logf("killed every node after %d acknowledgements", before)
	// A power loss also takes what the kernel had not written back. The
	// records a node applies are written unsynced (Raft's log is the
	// synced copy) and a roll syncs the segment it seals, so what can go
	// is a tail of each node's active segment: cut one, anywhere.
	rng := rand.New(rand.NewPCG(campaignSeed(t, clusterSeedEnv), 0))
	for _, nd := range bc.nodes {
		loseUnsyncedTail(t, rng, nd.dir)
	}
	for _, nd := range bc.nodes {
		bc.start(nd)
	}
	bc.awaitStatus(c, "a leader after the restart", allUp)
	w.awaitAcked(bc, c, "appends after the restart", before+50)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	bc.finish(t, c, w)
}

// TestClusterLeaderPaused stops the leader with SIGSTOP for longer than
// the election timeout while a client appends: the other two elect a new
// leader and take the appends; once continued, the old leader learns it
// was deposed, steps down, and catches up. Every acknowledged record is
// in every node's log once, at its offset: nothing the old leader took
// after it was deposed was acknowledged apart from the majority's log.
func TestClusterLeaderPaused(t *testing.T) {
	bc, c, w, st := startClusterTest(t)
	old := bc.node(st.Leader)

	stop := startWriter(w)
	w.awaitAcked(bc, c, "appends before the pause", 30)
	bc.signal(old, syscall.SIGSTOP)
	paused := w.acked()
	t.Logf("paused the leader %s after %d acknowledgements", old.id, paused)
	bc.awaitStatus(c, "a new leader", func(st messages.ClusterStatus) bool { return st.Leader != "" && st.Leader != old.id })
	w.awaitAcked(bc, c, "appends through the new leader", paused+30)
	bc.signal(old, syscall.SIGCONT)
	resumed := w.acked()
	w.awaitAcked(bc, c, "appends after the old leader resumed", resumed+30)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st = bc.awaitCaughtUp(c, uint64(w.acked()))
	if st.Leader == old.id {
		t.Logf("%s leads again: it won a later election after catching up", old.id)
	}
	bc.finish(t, c, w)
}

// TestClusterDamagedFollower flips a byte in a sealed segment of a
// stopped follower: restarted, it refuses to start (a clear error
// naming evlog check, a non-zero exit) and the other two keep taking
// appends; with its directory wiped it starts empty, is brought up to
// date by the leader, and matches the others byte for byte.
func TestClusterDamagedFollower(t *testing.T) {
	bc, c, w, st := startClusterTest(t, "--max-record-bytes", "1024", "--max-store-bytes", "4096")
	for range 200 {
		if err := w.append(); err != nil {
			t.Fatal(err)
		}
	}
	var f *clusterProc
	for _, nd := range bc.nodes {
		if nd.id != st.Leader {
			f = nd
		}
	}
	bc.awaitCaughtUp(c, uint64(w.acked()))
	bc.stop(f)
	flipSealedStore(t, f.dir)

	bc.start(f)
	err := bc.exited(f)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("damaged follower exited with %v, want a non-zero exit\n%s", err, f.stderr)
	}
	if msg := f.stderr.String(); !strings.Contains(msg, "damaged") || !strings.Contains(msg, "evlog check") {
		t.Fatalf("damaged follower's error does not say what to do:\n%s", msg)
	} else {
		t.Logf("the damaged follower refused to start:\n%s", msg)
	}
	for range 20 {
		if err := w.append(); err != nil {
			t.Fatal(err)
		}
	}

	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	bc.start(f)
	bc.finish(t, c, w)
}

// TestClusterLeaderDamagedAtRuntime flips a byte in a sealed segment of
// the running leader while a client appends, and reads the log until a
// read reaches the leader and finds the damage: the leader hands its
// leadership away and exits non-zero, the other two go on taking the
// appends, and the damaged node, its directory wiped, comes back and
// matches them. Every acknowledged record is in every log once.
func TestClusterLeaderDamagedAtRuntime(t *testing.T) {
	bc, c, w, st := startClusterTest(t, "--max-record-bytes", "1024", "--max-store-bytes", "4096")
	ld := bc.node(st.Leader)
	for range 200 {
		if err := w.append(); err != nil {
			t.Fatal(err)
		}
	}
	stop := startWriter(w)
	flipSealedStoreLive(t, ld.dir)
	// Reads are shared among the nodes: read until one reaches the
	// leader, which then stops.
	deadline := time.Now().Add(time.Minute)
	for ld.done != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = c.Read(ctx, 0, client.ReadOptions{MaxRecords: 1000})
		cancel()
		select {
		case err := <-ld.done:
			ld.done = nil
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("damaged leader exited with %v, want a non-zero exit\n%s", err, ld.stderr)
			}
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the damaged leader is still running\n%s", ld.stderr)
		}
	}
	if msg := ld.stderr.String(); !strings.Contains(msg, "damaged") {
		t.Fatalf("the damaged leader's log does not say why it stopped:\n%s", msg)
	}
	bc.awaitStatus(c, "a new leader", func(st messages.ClusterStatus) bool { return st.Leader != "" && st.Leader != ld.id })
	after := w.acked()
	w.awaitAcked(bc, c, "appends through the new leader", after+20)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(ld.dir); err != nil {
		t.Fatal(err)
	}
	bc.start(ld)
	bc.finish(t, c, w)
}

// flipSealedStoreLive flips a byte in the middle of the first sealed
// segment's store of a running node's directory dir, in place: the node
// maps the store, so it must not be truncated under it.
func flipSealedStoreLive(t *testing.T, dir string) {
	t.Helper()
	store := firstSealedStore(t, dir)
	f, err := os.OpenFile(store, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	pos := fi.Size() / 2
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
	t.Logf("flipped byte %d of %s", pos, store)
}

// firstSealedStore returns the store of the first segment of the node
// directory dir, which must not be the only one.
func firstSealedStore(t *testing.T, dir string) string {
	t.Helper()
	stores, err := filepath.Glob(filepath.Join(dir, "log", "*.store"))
	if err != nil || len(stores) < 2 {
		t.Fatalf("want a sealed segment in %s, have %v (%v)", dir, stores, err)
	}
	sort.Strings(stores)
	return stores[0]
}

// clusterSeedEnv replays the random choices of TestClusterPowerLoss.
const clusterSeedEnv = "EVLOG_CLUSTER_SEED"

// loseUnsyncedTail cuts the active segment's store of the stopped node
// directory dir at a random length, mid-frame as likely as not: the
// unsynced tail a power loss may take.
func loseUnsyncedTail(t *testing.T, rng *rand.Rand, dir string) {
	t.Helper()
	stores, err := filepath.Glob(filepath.Join(dir, "log", "*.store"))
	if err != nil || len(stores) == 0 {
		t.Fatalf("no store in %s (%v)", dir, err)
	}
	sort.Strings(stores)
	active := stores[len(stores)-1]
	fi, err := os.Stat(active)
	if err != nil {
		t.Fatal(err)
	}
	keep := rng.Int64N(fi.Size() + 1)
	if err := os.Truncate(active, keep); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: cut %s from %d to %d bytes", filepath.Base(dir), filepath.Base(active), fi.Size(), keep)
}

// flipSealedStore flips a byte in the middle of the first sealed
// segment's store of the stopped node directory dir.
func flipSealedStore(t *testing.T, dir string) {
	t.Helper()
	flipSealedStoreLive(t, dir)
}
