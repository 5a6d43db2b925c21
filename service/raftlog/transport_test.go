package raftlog

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestTLSClusterReplicates: three nodes on mutual TLS elect a leader and
// replicate, byte for byte, over TLS 1.3.
func TestTLSClusterReplicates(t *testing.T) {
	ca := newTestCA(t, "cluster")
	c := newCluster(t, 3, ca.withTLS)
	ld := c.leader()
	for i := range 10 {
		if err := do(ld.log, app("", fmt.Sprintf("r%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	c.converged(10)
	// The nodes speak TLS 1.3, with a certificate for the address.
	conn, err := tls.Dial("tcp", ld.log.Addr(), ca.clientConfig(ca.keyPair("member")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if v := conn.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("negotiated %s, want TLS 1.3", tls.VersionName(v))
	}
}

// TestTLSRefusesForeignNode: a node whose certificate a foreign CA signed
// neither joins nor disturbs the cluster. Its own Raft's dials fail on
// the certificate, a vote it sends by hand, with a term far ahead and
// the leadership-transfer flag that would make any member step down,
// never reaches Raft, and the cluster keeps its term and its leader and
// goes on taking appends.
func TestTLSRefusesForeignNode(t *testing.T) {
	ca := newTestCA(t, "cluster")
	c := newCluster(t, 3, ca.withTLS)
	ld := c.leader()
	c.mustDo(app("", "before"))
	term := ld.log.raft.CurrentTerm()

	logs := &syncBuffer{}
	cfg := testConfig("intruder", t.TempDir(), "127.0.0.1:0")
	newTestCA(t, "foreign").withTLS(&cfg)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	f, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}()
	conf := raft.Configuration{Servers: []raft.Server{{ID: "intruder", Address: raft.ServerAddress(f.Addr())}}}
	for _, nd := range c.nodes {
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(nd.cfg.NodeID), Address: raft.ServerAddress(nd.log.Addr())})
	}
	if err := f.raft.BootstrapCluster(conf).Error(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the intruder's elections to fail on the certificates", func() bool {
		for _, nd := range c.nodes {
			if !logs.contains(fmt.Sprintf("dial %s: tls: failed to verify certificate: x509: certificate signed by unknown authority", nd.log.Addr())) {
				return false
			}
		}
		return true
	})
	for _, nd := range c.nodes {
		err := requestVote(f.trans, nd, term+100)
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("vote to %s from the intruder: %v, want x509.UnknownAuthorityError", nd.cfg.NodeID, err)
		}
	}
	c.mustDo(app("", "after"))
	checkUndisturbed(t, c, ld, term)
}

// TestTLSRefusesClientsWithoutClusterCert: the listener verifies the
// client: a client that trusts the cluster's CA (its certificate is no
// secret) but presents a foreign certificate, or none, fails the
// handshake, and its vote never reaches Raft; a node's own certificate
// gets an answer, which shows the vote would have been delivered.
func TestTLSRefusesClientsWithoutClusterCert(t *testing.T) {
	ca := newTestCA(t, "cluster")
	c := newCluster(t, 1, ca.withTLS)
	ld := c.leader()
	term := ld.log.raft.CurrentTerm()
	foreign := newTestCA(t, "foreign")
	cases := map[string]*tls.Certificate{
		"foreign certificate": foreign.keyPair("intruder"),
		"no certificate":      nil,
	}
	for name, cert := range cases {
		trans := tlsTransport(t, ca.clientConfig(cert))
		err := requestVote(trans, ld, term+100)
		if err == nil || !strings.Contains(err.Error(), "remote error: tls:") {
			t.Errorf("%s: vote: %v, want a TLS alert from the node", name, err)
		}
	}
	checkUndisturbed(t, c, ld, term)

	member := ca.clientConfig(ca.keyPair("member"))
	var resp raft.RequestVoteResponse
	req := voteRequest(0) // stale: refused by Raft, not by TLS
	if err := tlsTransport(t, member).RequestVote(raft.ServerID(ld.cfg.NodeID), raft.ServerAddress(ld.log.Addr()), req, &resp); err != nil {
		t.Fatalf("vote with a cluster certificate: %v", err)
	}
	if resp.Granted || resp.Term != term {
		t.Fatalf("stale vote answered %+v, want refused at term %d", resp, term)
	}
}

// TestTLSRefusesPlainTCP: a peer speaking plain TCP gets no answer to its
// RPC, and the raw bytes it reads back are at most a TLS alert.
func TestTLSRefusesPlainTCP(t *testing.T) {
	ca := newTestCA(t, "cluster")
	c := newCluster(t, 1, ca.withTLS)
	ld := c.leader()
	term := ld.log.raft.CurrentTerm()

	plain, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 1, 5*time.Second, newHCLog(slog.New(slog.DiscardHandler), "plain"))
	if err != nil {
		t.Fatal(err)
	}
	closeTransport(t, plain)
	if err := requestVote(plain, ld, term+100); err == nil {
		t.Fatal("a plain TCP vote was answered")
	}
	checkUndisturbed(t, c, ld, term)

	conn, err := net.Dial("tcp", ld.log.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte{byte(0), 0x85, 0xa4, 'T', 'e', 'r', 'm', 0x64, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("read from the node: %v, want it to close the connection", err)
	}
	const alertRecord = 0x15
	if len(got) > 0 && got[0] != alertRecord {
		t.Fatalf("a plain TCP client read %x, want nothing or a TLS alert", got)
	}
}

// TestTLSConfigFiles: TLS files that cannot be loaded fail Open with
// ErrConfig, before Raft starts.
func TestTLSConfigFiles(t *testing.T) {
	ca := newTestCA(t, "cluster")
	cases := map[string]func(*Config){
		"missing certificate": func(c *Config) { c.TLSCertFile += ".missing" },
		"key of another cert": func(c *Config) { _, c.TLSKeyFile = ca.issue("other") },
		"CA file without PEM": func(c *Config) { c.TLSCAFile = c.TLSKeyFile + ".nothing"; writeFile(t, c.TLSCAFile, "not pem") },
		"missing CA file":     func(c *Config) { c.TLSCAFile += ".missing" },
	}
	for name, tweak := range cases {
		cfg := testConfig("n0", t.TempDir(), "127.0.0.1:0")
		ca.withTLS(&cfg)
		tweak(&cfg)
		if l, err := Open(cfg); !errors.Is(err, ErrConfig) {
			if l != nil {
				_ = l.Close()
			}
			t.Errorf("%s: Open: %v, want ErrConfig", name, err)
		}
	}
}

// TestInsecureTransportAllowed: with AllowInsecureTransport, a node
// serves plain TCP on a wildcard address; without it, Open refuses.
func TestInsecureTransportAllowed(t *testing.T) {
	cfg := testConfig("n0", t.TempDir(), "0.0.0.0:0")
	cfg.AdvertiseAddr = "127.0.0.1:7000"
	if _, err := Open(cfg); !errors.Is(err, ErrInsecureTransport) {
		t.Fatalf("Open on a wildcard without TLS: %v, want ErrInsecureTransport", err)
	}
	cfg.AllowInsecureTransport = true
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// voteRequest is a vote request at term that a member would obey: it
// names no server id, as older Raft versions do, so the receiver skips
// its membership check, and with LeadershipTransfer a node votes even
// though it knows a leader. Delivered at a newer term, it makes the
// receiver adopt the term and its leader step down.
func voteRequest(term uint64) *raft.RequestVoteRequest {
	return &raft.RequestVoteRequest{
		RPCHeader:          raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, Addr: []byte("127.0.0.1:1")},
		Term:               term,
		LastLogIndex:       1 << 40,
		LastLogTerm:        term,
		LeadershipTransfer: true,
	}
}

// requestVote sends nd a vote request at term through trans.
func requestVote(trans *raft.NetworkTransport, nd *node, term uint64) error {
	var resp raft.RequestVoteResponse
	return trans.RequestVote(raft.ServerID(nd.cfg.NodeID), raft.ServerAddress(nd.log.Addr()), voteRequest(term), &resp)
}

// checkUndisturbed fails the test unless every node is still at term and
// ld still leads.
func checkUndisturbed(t *testing.T, c *cluster, ld *node, term uint64) {
	t.Helper()
	for _, nd := range c.running() {
		if got := nd.log.raft.CurrentTerm(); got != term {
			t.Fatalf("%s at term %d, want %d: a refused peer reached Raft", nd.cfg.NodeID, got, term)
		}
	}
	if !ld.log.Leader() {
		t.Fatalf("%s lost the leadership", ld.cfg.NodeID)
	}
}

// tlsTransport is a Raft transport on loopback that dials with conf: a
// peer that is not a node of the cluster.
func tlsTransport(t *testing.T, conf *tls.Config) *raft.NetworkTransport {
	t.Helper()
	s, err := listenTLS("127.0.0.1:0", nil, conf)
	if err != nil {
		t.Fatal(err)
	}
	trans := raft.NewNetworkTransportWithLogger(s, 1, 5*time.Second, newHCLog(slog.New(slog.DiscardHandler), "stranger"))
	closeTransport(t, trans)
	return trans
}

func closeTransport(t *testing.T, trans *raft.NetworkTransport) {
	t.Cleanup(func() {
		trans.CloseStreams()
		if err := trans.Close(); err != nil {
			t.Error(err)
		}
	})
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a log destination that a test reads while Raft writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), s)
}
