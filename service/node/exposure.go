package node

import (
	"net"
	"strconv"

	"github.com/nats-io/nats-server/v2/server"
)

// exposed says whether a nats-server configured by opts accepts clients
// from the network without authenticating them: it listens on an address
// other than loopback, and neither users (nor a token, nkeys, an
// operator, auth callout) nor verified client certificates are required.
// A no_auth_user counts as no authentication: anyone who connects gets
// that user's permissions.
func exposed(opts *server.Options) bool {
	return !loopback(opts.Host) && !natsAuthRequired(opts) && !opts.TLSVerify && opts.AuthCallout == nil
}

// loopback says whether a nats-server listening on host is reachable from
// this machine only. An empty host is every interface, as for
// nats-server; a host name other than localhost may resolve to anything.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listenAddr is the host:port a nats-server configured by opts listens on,
// for messages.
func listenAddr(opts *server.Options) string {
	host := opts.Host
	if host == "" {
		host = "0.0.0.0"
	}
	return net.JoinHostPort(host, strconv.Itoa(opts.Port))
}
