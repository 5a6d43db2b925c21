package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/servicetest"
)

// raftTLSArgs are the flags that put a node's Raft transport on mutual
// TLS with pki's node certificate and CA.
func raftTLSArgs(pki testPKI) []string {
	return []string{"--raft-tls-cert", pki.nodeCert, "--raft-tls-key", pki.nodeKey, "--raft-tls-ca", pki.caFile}
}

// TestBinaryClusterRaftTLS runs three nodes of the real binary with
// Raft on mutual TLS. One node is restarted with a certificate from
// another CA: the other two refuse it and it refuses them, so it gets
// nothing while the cluster keeps its leader and term and goes on
// acknowledging appends. Restarted with the cluster's certificate, the
// node catches up and every directory ends byte for byte alike.
func TestBinaryClusterRaftTLS(t *testing.T) {
	pki, foreign := newTestPKI(t), newTestPKI(t)
	bc, c, w, _ := startClusterTest(t, raftTLSArgs(pki)...)
	appendN := func(n int) {
		t.Helper()
		for range n {
			if err := w.append(); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(10)

	st := bc.awaitStatus(c, "a leader", allUp)
	var outsider *clusterProc
	for _, nd := range bc.nodes {
		if nd.id != st.Leader {
			outsider = nd
		}
	}
	term := memberOf(t, st, st.Leader).Term
	bc.kill(outsider)
	outsider.extra = raftTLSArgs(foreign)
	bc.start(outsider)

	// The outsider answers over NATS but never hears from the cluster:
	// it is stuck where it was killed, while the others take every
	// append. Its vote requests never reach them, so the term stays.
	appendN(30)
	st = bc.awaitStatus(c, "the outsider to answer", func(st messages.ClusterStatus) bool {
		m := memberOf(t, st, outsider.id)
		return st.Leader != "" && m.State != messages.StateUnreachable && m.AppliedOffset <= 10
	})
	appendN(10)
	st = bc.awaitStatus(c, "the status after the appends", func(st messages.ClusterStatus) bool { return st.Leader != "" })
	if got := memberOf(t, st, outsider.id); got.AppliedOffset > 10 || got.State == messages.StateLeader {
		t.Errorf("the node with a foreign certificate got records: %+v", got)
	}
	if leader := memberOf(t, st, st.Leader); leader.Term != term || leader.AppliedOffset != 50 {
		t.Errorf("leader after the outsider ran: %+v, want term %d and 50 records", leader, term)
	}
	// It says why: its first vote request, an election timeout after its
	// start, fails the handshake (so does each heartbeat it is sent).
	bc.await(c, "the outsider to log a certificate error", func() bool {
		return strings.Contains(outsider.stderr.String(), "certificate")
	})

	bc.kill(outsider)
	outsider.extra = raftTLSArgs(pki)
	bc.start(outsider)
	bc.finish(t, c, w)
}

// memberOf is id's entry in st.
func memberOf(t *testing.T, st messages.ClusterStatus, id string) messages.ClusterMember {
	t.Helper()
	for _, m := range st.Members {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("no member %s in %+v", id, st)
	return messages.ClusterMember{}
}

// TestBinaryRefusesInsecureRaft: a node whose Raft address is not on
// loopback refuses to start without Raft TLS, naming the flags that
// fix it, unless --allow-anonymous says the network is trusted.
func TestBinaryRefusesInsecureRaft(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	url := servicetest.NATS(t, nil).ClientURL()
	addr := fmt.Sprintf("0.0.0.0:%d", freePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "serve", "--dir", t.TempDir(), "--nats-url", url,
		"--node-id", "n0", "--raft-addr", addr, "--raft-advertise", "127.0.0.1:1", "--peers", "n0=127.0.0.1:1").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("Raft on %s without TLS: %v, want exit 2\n%s", addr, err, out)
	}
	for _, want := range []string{"--raft-tls-cert", "--allow-anonymous", "0.0.0.0"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("refusal does not name %s:\n%s", want, out)
		}
	}
}
