package node

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/nats-io/nats.go"
)

// connect joins the embedded server in-process, or the external one over
// TLS if configured, with the options' credentials in both cases.
func (n *node) connect() error {
	n.ncClosed = make(chan struct{})
	opts, err := n.connOptions()
	if err != nil {
		return err
	}
	url := n.clientURL
	if n.ns != nil {
		// The in-process connection skips TLS, which the server allows
		// it; a tls:// URL would make nats.go start a handshake over
		// the pipe that the server never answers.
		url = strings.Replace(url, "tls://", "nats://", 1)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		if n.ns != nil {
			return fmt.Errorf("connect to the embedded nats-server: %w (if its config requires users, check the service's credentials)", err)
		}
		return fmt.Errorf("connect to nats at %s: %w", redactURLs(n.clientURL), err)
	}
	n.nc = nc
	n.h.nc.Store(nc)
	n.logger.Info("connected to nats", "url", nc.ConnectedUrlRedacted(), "max_payload", nc.MaxPayload())
	return nil
}

// drain drains the connection, which flushes what the service has
// published, and waits until it is closed.
func (n *node) drain() {
	n.h.stopping.Store(true)
	if err := n.nc.Drain(); err != nil {
		n.nc.Close()
	}
	<-n.ncClosed
}

func (n *node) connOptions() ([]nats.Option, error) {
	o, logger := n.o, n.logger
	opts := []nats.Option{
		nats.Name("evlog " + o.Prefix),
		nats.ClosedHandler(func(*nats.Conn) { close(n.ncClosed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			logger.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
		}),
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.User != "" || o.Password != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nkey seed %s: %w", o.NKeyFile, err)
		}
		opts = append(opts, opt)
	}
	if n.ns != nil {
		return append(opts, nats.InProcessServer(n.ns.s)), nil
	}
	opts = append(opts, nats.MaxReconnects(-1))
	if o.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(o.TLSCAFile))
	}
	if o.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(o.TLSCertFile, o.TLSKeyFile))
	}
	return opts, nil
}

// redactURLs returns a --nats-url, a comma-separated list of URLs, with
// the password (or token) of each replaced, for messages: errors end up
// in logs and on terminals.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		switch {
		case err != nil:
			// Unparsable, so perhaps not a URL at all: show none of it.
			parts[i] = "(unparsable URL)"
		case u.User != nil:
			// A user without a password is nats.go's token.
			if _, ok := u.User.Password(); !ok {
				u.User = url.User("xxxxx")
			}
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
