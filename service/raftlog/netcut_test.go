package raftlog

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// netCut is the network of a test cluster, which can cut a node off its
// peers and heal it: a cut node's dials are refused, so are dials to it,
// and every connection it holds, dialled or accepted, is closed. Raft's
// connections are made by one node's stream layer and accepted by the
// other's, so closing them on the cut node's side ends both ends.
type netCut struct {
	// mu guards cut and conns, and makes a dial or an accept and its
	// tracking one step against a cut, so that no connection slips past.
	mu    sync.Mutex
	cut   map[string]bool                  // node addresses cut off
	conns map[string]map[*cutConn]struct{} // node address -> its connections
}

func newNetCut() *netCut {
	return &netCut{cut: map[string]bool{}, conns: map[string]map[*cutConn]struct{}{}}
}

// tweak makes the nodes of a test cluster run on the network n.
func (n *netCut) tweak(cfg *Config) { cfg.streamLayer = n.listen }

// listen is Config.streamLayer.
func (n *netCut) listen(bind string) (raft.StreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	return &cutLayer{net: n, ln: ln, self: ln.Addr().String()}, nil
}

// isolate cuts the node at addr off every other node.
func (n *netCut) isolate(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[addr] = true
	for c := range n.conns[addr] {
		_ = c.Conn.Close()
	}
	delete(n.conns, addr)
}

// heal reconnects the node at addr.
func (n *netCut) heal(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cut, addr)
}

// admit tracks c as a connection of self, or closes it when self or peer
// is cut off.
func (n *netCut) admit(self, peer string, c net.Conn) (net.Conn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut[self] || n.cut[peer] {
		_ = c.Close()
		return nil, fmt.Errorf("netcut: %s and %s are partitioned", self, peer)
	}
	tc := &cutConn{Conn: c, net: n, self: self}
	if n.conns[self] == nil {
		n.conns[self] = map[*cutConn]struct{}{}
	}
	n.conns[self][tc] = struct{}{}
	return tc, nil
}

// cutConn is a connection netCut tracks until it closes.
type cutConn struct {
	net.Conn
	net  *netCut
	self string
}

// Close forgets the connection and closes it.
func (c *cutConn) Close() error {
	c.net.mu.Lock()
	delete(c.net.conns[c.self], c)
	c.net.mu.Unlock()
	return c.Conn.Close()
}

// cutLayer is one node's raft.StreamLayer on a netCut.
type cutLayer struct {
	net  *netCut
	ln   net.Listener
	self string
}

// Accept returns the next connection the network lets through. The
// dialler's address is not known here; a cut dialler's dials are refused
// before they connect, and a cut node's accepts are closed.
func (l *cutLayer) Accept() (net.Conn, error) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return nil, err
		}
		if tc, err := l.net.admit(l.self, l.self, c); err == nil {
			return tc, nil
		}
	}
}

// Close stops the listener.
func (l *cutLayer) Close() error { return l.ln.Close() }

// Addr is the listener's address.
func (l *cutLayer) Addr() net.Addr { return l.ln.Addr() }

// Dial connects to a peer unless the network is cut between them.
func (l *cutLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	l.net.mu.Lock()
	refused := l.net.cut[l.self] || l.net.cut[string(address)]
	l.net.mu.Unlock()
	if refused {
		return nil, fmt.Errorf("netcut: %s and %s are partitioned", l.self, address)
	}
	c, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	return l.net.admit(l.self, string(address), c)
}
