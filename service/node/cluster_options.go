package node

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/evlog/evlog/service/raftlog"
)

// clustered says the options make a node of a cluster.
func (o Options) clustered() bool { return o.NodeID != "" }

// checkCluster checks the cluster options: an id, a Raft address and a
// peer list that includes the node, and the embedded server's routes.
func (o Options) checkCluster() error {
	if err := o.checkNATSCluster(); err != nil {
		return err
	}
	if !o.clustered() {
		for _, c := range []struct{ flag, v string }{
			{"--raft-addr", o.RaftAddr}, {"--raft-advertise", o.RaftAdvertise}, {"--peers", o.Peers},
		} {
			if c.v != "" {
				return fmt.Errorf("%s needs --node-id: it is for a node of a cluster", c.flag)
			}
		}
		return nil
	}
	if !validNodeID(o.NodeID) {
		return fmt.Errorf("--node-id %q: use letters, digits, '-' and '_' only (it names a NATS subject)", o.NodeID)
	}
	if o.RaftAddr == "" {
		return errors.New("--node-id needs --raft-addr, the host:port Raft listens on")
	}
	if err := checkAddr(o.RaftAddr, false); err != nil {
		return fmt.Errorf("--raft-addr %q: %w", o.RaftAddr, err)
	}
	if o.RaftAdvertise != "" {
		if err := checkAddr(o.RaftAdvertise, false); err != nil {
			return fmt.Errorf("--raft-advertise %q: %w", o.RaftAdvertise, err)
		}
	}
	if err := o.checkRaftTLS(); err != nil {
		return err
	}
	peers, err := o.peers()
	if err != nil {
		return err
	}
	if len(peers) > 0 && !hasPeer(peers, o.NodeID) {
		return fmt.Errorf("--peers does not list this node, --node-id %q: give every node the same list, itself included", o.NodeID)
	}
	return nil
}

// checkNATSCluster checks the embedded server's cluster options.
func (o Options) checkNATSCluster() error {
	if o.NATSClusterListen == "" && o.NATSRoutes == "" {
		return nil
	}
	switch {
	case o.NATSURL != "":
		return errors.New("--nats-cluster-listen and --nats-routes are for the embedded server and conflict with --nats-url")
	case o.NATSClusterListen == "":
		return errors.New("--nats-routes needs --nats-cluster-listen: the embedded server routes from its cluster port")
	}
	if err := checkAddr(o.NATSClusterListen, true); err != nil {
		return fmt.Errorf("--nats-cluster-listen %q: %w", o.NATSClusterListen, err)
	}
	if _, err := parseRoutes(o.NATSRoutes); err != nil {
		return err
	}
	return nil
}

// peers parses Options.Peers.
func (o Options) peers() ([]raftlog.Peer, error) {
	peers, err := raftlog.ParsePeers(o.Peers)
	if err != nil {
		return nil, fmt.Errorf("--peers: %s", strings.TrimPrefix(err.Error(), raftlog.ErrConfig.Error()+": "))
	}
	seen := map[string]bool{}
	for _, p := range peers {
		if !validNodeID(p.ID) {
			return nil, fmt.Errorf("--peers: id %q: use letters, digits, '-' and '_' only", p.ID)
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("--peers: id %q is listed twice", p.ID)
		}
		seen[p.ID] = true
	}
	return peers, nil
}

func hasPeer(peers []raftlog.Peer, id string) bool {
	for _, p := range peers {
		if p.ID == id {
			return true
		}
	}
	return false
}

// validNodeID says whether id can be a node id: a NATS subject token of
// the characters any tool shows unquoted.
func validNodeID(id string) bool {
	if id == "" {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

// parseRoutes parses --nats-routes, comma-separated nats-route:// URLs.
func parseRoutes(s string) ([]*url.URL, error) {
	var routes []*url.URL
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		u, err := url.Parse(item)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("--nats-routes: %q is not a URL such as nats-route://127.0.0.1:6222", item)
		}
		routes = append(routes, u)
	}
	return routes, nil
}

// clusterServerOptions adds the embedded server's cluster port and
// routes, and gives each node's server a name of its own, which a NATS
// cluster needs.
func clusterServerOptions(o Options, opts *server.Options) {
	if o.clustered() && (opts.ServerName == "" || opts.ServerName == "evlog") {
		opts.ServerName = "evlog-" + o.NodeID
	}
	if o.NATSClusterListen == "" {
		return
	}
	// Validate has checked both.
	host, portText, _ := net.SplitHostPort(o.NATSClusterListen)
	port, _ := strconv.Atoi(portText)
	opts.Cluster.Host, opts.Cluster.Port = host, port
	if opts.Cluster.Name == "" {
		opts.Cluster.Name = "evlog"
	}
	routes, _ := parseRoutes(o.NATSRoutes)
	opts.Routes = append(opts.Routes, routes...)
}

// checkRaftTLS refuses a Raft transport that anyone who reaches it could
// join: TLS files come all together, and without them Raft listens on
// loopback only, unless --allow-anonymous says otherwise.
func (o Options) checkRaftTLS() error {
	set := 0
	for _, f := range []string{o.RaftTLSCertFile, o.RaftTLSKeyFile, o.RaftTLSCAFile} {
		if f != "" {
			set++
		}
	}
	switch {
	case set != 0 && set != 3:
		return errors.New("--raft-tls-cert, --raft-tls-key and --raft-tls-ca go together")
	case set == 3 || o.AllowAnonymous:
		return nil
	}
	host, _, _ := net.SplitHostPort(o.RaftAddr)
	if !loopback(host) {
		return fmt.Errorf("--raft-addr %q is reachable from the network and Raft has no TLS: any peer could join and write the log; "+
			"give --raft-tls-cert, --raft-tls-key and --raft-tls-ca, or --allow-anonymous", o.RaftAddr)
	}
	return nil
}
