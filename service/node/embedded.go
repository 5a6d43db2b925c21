package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds the embedded server's start.
const readyTimeout = 10 * time.Second

// embedded is the in-process nats-server and the wait for its end.
type embedded struct {
	s    *server.Server
	down chan struct{} // closed once the server has shut down
}

// startServer starts an embedded nats-server unless Options.NATSURL
// names one to join, and sets the URL clients connect to.
func (n *node) startServer() error {
	n.clientURL = n.o.NATSURL
	if n.o.NATSURL != "" {
		return nil
	}
	s, opts, err := startServer(n.o, n.logger.With("component", "nats-server"))
	if err != nil {
		return err
	}
	n.ns = &embedded{s: s, down: make(chan struct{})}
	// Owned by the node: shutdownServer ends it.
	go func() {
		s.WaitForShutdown()
		close(n.ns.down)
	}()
	n.clientURL = s.ClientURL()
	n.logger.Info("embedded nats-server listening", "url", n.clientURL, "tls", opts.TLSConfig != nil, "client_certs", opts.TLSVerify)
	if exposed(opts) {
		// Validate refused this without AllowAnonymous.
		n.h.anonymous.Store(true)
		n.logger.Warn("anonymous access from the network allowed (--allow-anonymous): anyone who reaches the port may append, read, truncate and answer the service's subjects",
			"listen", listenAddr(opts))
	}
	return nil
}

// shutdownServer shuts the embedded server down, if there is one, and
// waits for it.
func (n *node) shutdownServer() {
	n.h.stopping.Store(true)
	if n.ns != nil {
		n.ns.s.Shutdown()
		<-n.ns.down
	}
}

// startServer starts an embedded nats-server, configured by
// o.NATSConfigFile if given, and returns it with its options. It handles
// no signals: Run does, and stops it in order.
func startServer(o Options, logger *slog.Logger) (*server.Server, *server.Options, error) {
	opts, err := serverOptions(o)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	// One fatal message is enough to fail the start; the server may send
	// more as it gives up.
	fatal := make(chan string, 1)
	ns.SetLoggerV2(natsLogger{l: logger, fatal: func(msg string) {
		select {
		case fatal <- msg:
		default:
		}
	}}, opts.Debug, opts.Trace, false)
	ns.Start()
	if err := awaitReady(ns, fatal); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, nil, fmt.Errorf("embedded nats-server on %s:%d: %w", opts.Host, opts.Port, err)
	}
	return ns, opts, nil
}

// readyPoll is how often awaitReady looks for a fatal message.
const readyPoll = 20 * time.Millisecond

// awaitReady waits until ns accepts connections, for readyTimeout at
// most, and fails at once if ns reports a fatal error instead: a server
// that cannot listen says so only in its log and never becomes ready.
func awaitReady(ns *server.Server, fatal <-chan string) error {
	deadline := time.Now().Add(readyTimeout)
	for !ns.ReadyForConnections(readyPoll) {
		select {
		case msg := <-fatal:
			return errors.New(msg)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v", readyTimeout)
		}
	}
	return nil
}

// serverOptions are the embedded server's options: the config file's, if
// any, with Options.NATSListen and the node's own settings on top.
func serverOptions(o Options) (*server.Options, error) {
	opts := &server.Options{}
	if o.NATSConfigFile != "" {
		fo, err := server.ProcessConfigFile(o.NATSConfigFile)
		if err != nil {
			return nil, fmt.Errorf("--nats-config: %v", err)
		}
		opts = fo
		// An in-process connection the server turns away fails only
		// after the server's write deadline, with a closed pipe: catch
		// the likely mistake here.
		if natsAuthRequired(opts) && o.CredsFile == "" && o.NKeyFile == "" && o.Token == "" && o.User == "" {
			return nil, fmt.Errorf("--nats-config %s requires users: give the service the credentials of one (--nats-user and --nats-password, --nats-token, --nats-nkey or --nats-creds)", o.NATSConfigFile)
		}
	}
	listen := o.NATSListen
	if listen == "" && opts.Host == "" && opts.Port == 0 {
		listen = DefaultNATSListen
	}
	if listen != "" {
		// Validate has checked the address.
		host, portText, _ := net.SplitHostPort(listen)
		port, _ := strconv.Atoi(portText)
		opts.Host, opts.Port = host, port
	}
	if o.ServerTLSCertFile != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
			CertFile: o.ServerTLSCertFile, KeyFile: o.ServerTLSKeyFile, CaFile: o.ServerTLSCAFile,
			Verify: o.ServerTLSCAFile != "",
		})
		if err != nil {
			return nil, fmt.Errorf("--nats-server-tls-cert, --nats-server-tls-key, --nats-server-tls-ca: %v", err)
		}
		opts.TLSConfig, opts.TLS, opts.TLSVerify = tc, true, o.ServerTLSCAFile != ""
	}
	if opts.ServerName == "" {
		opts.ServerName = "evlog"
	}
	clusterServerOptions(o, opts)
	opts.NoSigs = true
	return opts, nil
}

// natsAuthRequired says whether a nats-server configured by opts admits
// only clients that authenticate.
func natsAuthRequired(opts *server.Options) bool {
	if opts.NoAuthUser != "" {
		return false
	}
	return len(opts.Users) > 0 || len(opts.Nkeys) > 0 || opts.Authorization != "" || opts.Username != "" ||
		len(opts.TrustedOperators) > 0 || len(opts.TrustedKeys) > 0
}
