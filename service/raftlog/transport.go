package raftlog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Settings of the transport: how many connections to each peer are
// pooled, and the I/O timeout of an RPC, which also bounds how long an
// accepted connection may take to finish its TLS handshake.
const (
	transportMaxPool = 3
	transportTimeout = 10 * time.Second
)

var (
	errNotTCP          = errors.New("raft transport address is not a TCP address")
	errNotAdvertisable = errors.New("raft transport address is not advertisable (a wildcard bind needs AdvertiseAddr)")
)

// newTransport starts Raft's network transport on cfg.BindAddr: mutual
// TLS when cfg has the TLS files, plain TCP otherwise (validate has
// refused plain TCP where it is not allowed).
func newTransport(cfg Config, hl hclog.Logger) (*raft.NetworkTransport, error) {
	var adv net.Addr
	if cfg.AdvertiseAddr != "" {
		a, err := net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr)
		if err != nil {
			return nil, fmt.Errorf("%w: raft advertise address: %w", ErrConfig, err)
		}
		adv = a
	}
	if cfg.TLSCertFile == "" {
		t, err := raft.NewTCPTransportWithLogger(cfg.BindAddr, adv, transportMaxPool, transportTimeout, hl)
		if err != nil {
			return nil, fmt.Errorf("raft transport: %w", err)
		}
		return t, nil
	}
	tc, err := loadTLS(cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCAFile)
	if err != nil {
		return nil, err
	}
	s, err := listenTLS(cfg.BindAddr, adv, tc)
	if err != nil {
		return nil, fmt.Errorf("raft transport: %w", err)
	}
	return raft.NewNetworkTransportWithLogger(s, transportMaxPool, transportTimeout, hl), nil
}

// tlsStreamLayer is a raft.StreamLayer over mutual TLS: it accepts only
// peers with a certificate from the CA, and dials only peers that hold
// one for the address dialled.
type tlsStreamLayer struct {
	ln        net.Listener // the TCP listener, under the TLS server
	advertise net.Addr     // nil: the listener's address
	conf      *tls.Config
}

// listenTLS listens on bind and checks, as raft.NewTCPTransport does,
// that the address other nodes are told is one they can dial.
func listenTLS(bind string, advertise net.Addr, conf *tls.Config) (*tlsStreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	s := &tlsStreamLayer{ln: ln, advertise: advertise, conf: conf}
	addr, ok := s.Addr().(*net.TCPAddr)
	switch {
	case !ok:
		err = errNotTCP
	case addr.IP == nil || addr.IP.IsUnspecified():
		err = errNotAdvertisable
	}
	if err != nil {
		return nil, errors.Join(err, ln.Close())
	}
	return s, nil
}

// Accept returns the next connection, its handshake still to come: it
// runs on the connection's first read, in the transport's handler of it,
// so that a slow or silent client never holds up the accept loop.
func (s *tlsStreamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &serverConn{Conn: tls.Server(c, s.conf)}, nil
}

// Close stops the listener; connections already accepted are the
// transport's to close.
func (s *tlsStreamLayer) Close() error { return s.ln.Close() }

// Addr returns the advertised address, or the listener's.
func (s *tlsStreamLayer) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.ln.Addr()
}

// Dial connects to a peer and completes the handshake within timeout:
// the peer's certificate is verified against the CA and the address's
// host, and this node's certificate is presented for the peer to verify.
func (s *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := &tls.Dialer{Config: s.conf}
	c, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("raft transport: dial %s: %w", address, err)
	}
	return c, nil
}

// serverConn is an accepted TLS connection whose first Read completes the
// handshake under a deadline. The transport sets no deadline on the
// connections it accepts (an idle pooled connection is normal), so
// without one a client that connects and says nothing would hold a
// handler forever. A failed handshake is returned to that handler, which
// logs it and closes the connection: Raft never sees a request from it.
type serverConn struct {
	*tls.Conn
	// shook is set after the handshake; only the transport's handler of
	// the connection reads it, and it reads before it writes.
	shook bool
}

// Read completes the handshake first, then reads.
func (c *serverConn) Read(b []byte) (int, error) {
	if !c.shook {
		if err := c.handshake(); err != nil {
			return 0, err
		}
		c.shook = true
	}
	return c.Conn.Read(b)
}

func (c *serverConn) handshake() error {
	if err := c.SetDeadline(time.Now().Add(transportTimeout)); err != nil {
		return err
	}
	if err := c.Handshake(); err != nil {
		return fmt.Errorf("raft transport: TLS handshake with %s: %w", c.RemoteAddr(), err)
	}
	return c.SetDeadline(time.Time{})
}
