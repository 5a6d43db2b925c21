package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service/local"
)

// Defaults of Options.
const (
	// DefaultDir is the data directory of the binary.
	DefaultDir = "data"
	// DefaultNATSListen is where the embedded nats-server listens: the
	// port NATS clients and the nats CLI try first, on loopback only.
	DefaultNATSListen = "127.0.0.1:4222"
	// readyTimeout bounds the embedded server's start.
	readyTimeout = 10 * time.Second
)

// Options configures Run. The zero value of each field means its default.
type Options struct {
	// Dir is the log's data directory, created if missing. Default "data".
	Dir string
	// Prefix is the subject prefix. Default "evlog".
	Prefix string

	// NATSURL is the NATS server to join. Empty starts an embedded
	// nats-server.
	NATSURL string
	// NATSListen is the host:port of the embedded server; port -1 picks a
	// free port. Default: the listen address of NATSConfigFile if it has
	// one, else 127.0.0.1:4222. It conflicts with NATSURL.
	NATSListen string
	// NATSConfigFile is a nats-server configuration file for the embedded
	// server: accounts, users and their permissions, TLS, limits. NATSListen
	// overrides its listen address. It conflicts with NATSURL.
	NATSConfigFile string
	// CredsFile, User and Password, Token and NKeyFile (a seed file)
	// authenticate the service's connection, to NATSURL or to the
	// embedded server, whose in-process connection needs them when
	// NATSConfigFile requires authentication. At most one of the four
	// ways may be given.
	CredsFile, User, Password, Token, NKeyFile string
	// TLSCAFile verifies NATSURL's certificate; TLSCertFile and TLSKeyFile
	// are a client certificate for it. They need NATSURL: the in-process
	// connection to the embedded server needs no TLS.
	TLSCAFile, TLSCertFile, TLSKeyFile string

	// SyncMode is the log's sync mode. Default segment.SyncAlways.
	SyncMode segment.SyncMode
	// SyncInterval is the period of segment.SyncInterval. Default 1 s.
	SyncInterval time.Duration
	// MaxStoreBytes and MaxIndexBytes size the segments; zero means the
	// segment package's defaults.
	MaxStoreBytes, MaxIndexBytes uint64

	// MaxRecordBytes, MaxReadBytes, MaxBatchRecords, MaxPendingAppends,
	// MaxParkedReads and MaxWait are the service's limits (see Config);
	// zero means Config's defaults.
	MaxRecordBytes, MaxReadBytes, MaxBatchRecords int
	MaxPendingAppends, MaxParkedReads             int
	MaxWait                                       time.Duration

	// MetricsAddr is the host:port of the HTTP listener that serves
	// /metrics, /healthz and /readyz; port 0 picks a free port. Empty
	// serves no HTTP.
	MetricsAddr string

	// Logger receives everything Run, the service, the log and the
	// embedded server report. Nil is silent.
	Logger *slog.Logger
	// Ready, if set, is called once the service answers, with the URL a
	// NATS client connects to. Tests use it to learn a random port.
	Ready func(clientURL string)
	// MetricsReady, if set, is called once the HTTP listener of
	// MetricsAddr is bound, before the log is opened, with its address.
	MetricsReady func(addr string)
}

func (o Options) withDefaults() Options {
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	if o.Prefix == "" {
		o.Prefix = messages.DefaultPrefix
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// validate checks what the service's Config does not.
func (o Options) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if o.MetricsAddr != "" {
		if err := checkAddr(o.MetricsAddr); err != nil {
			return bad("MetricsAddr %q: %v", o.MetricsAddr, err)
		}
	}
	if o.NATSURL != "" {
		switch {
		case o.NATSListen != "":
			return bad("NATSListen is for the embedded server and conflicts with NATSURL")
		case o.NATSConfigFile != "":
			return bad("NATSConfigFile is for the embedded server and conflicts with NATSURL")
		}
	} else if o.TLSCAFile != "" || o.TLSCertFile != "" || o.TLSKeyFile != "" {
		return bad("TLSCAFile, TLSCertFile and TLSKeyFile need NATSURL: the embedded server is joined in-process")
	}
	ways := 0
	for _, set := range []bool{o.CredsFile != "", o.NKeyFile != "", o.Token != "", o.User != "" || o.Password != ""} {
		if set {
			ways++
		}
	}
	switch {
	case ways > 1:
		return bad("more than one way to authenticate to NATS: give one of CredsFile, NKeyFile, Token, or User and Password")
	case o.Password != "" && o.User == "":
		return bad("Password without User")
	case (o.TLSCertFile == "") != (o.TLSKeyFile == ""):
		return bad("TLSCertFile and TLSKeyFile go together")
	case o.SyncInterval < 0:
		return bad("negative SyncInterval %v", o.SyncInterval)
	}
	return nil
}

// exit ends the process on a second signal; a variable for tests.
var exit = os.Exit

// errStop ends the run group on a requested stop: a signal or the
// context. It is not an error to report.
var errStop = errors.New("stop requested")

// Run serves a log until ctx is done or the process gets SIGINT or
// SIGTERM, then stops gracefully: the service stops taking requests and
// acknowledges what it has written, the connection drains, the embedded
// server (if any) shuts down, and the log is synced and closed. A second
// signal during that exits the process at once; the log's files stay
// recoverable, since nothing acknowledged depends on what the shutdown
// would still have done. Run returns nil after a requested stop, and
// otherwise the error that ended it, joined with any error of the
// shutdown.
func Run(ctx context.Context, o Options) error {
	o = o.withDefaults()
	logger := o.Logger
	if err := o.validate(); err != nil {
		return err
	}
	var reg *prometheus.Registry
	cfg := Config{
		Prefix:            o.Prefix,
		MaxRecordBytes:    o.MaxRecordBytes,
		MaxReadBytes:      o.MaxReadBytes,
		MaxBatchRecords:   o.MaxBatchRecords,
		MaxPendingAppends: o.MaxPendingAppends,
		MaxParkedReads:    o.MaxParkedReads,
		MaxWait:           o.MaxWait,
		Logger:            logger.With("component", "service"),
	}
	if o.MetricsAddr != "" {
		reg = prometheus.NewRegistry()
		reg.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
			collectors.NewBuildInfoCollector(),
		)
		cfg.Registerer = reg
	}
	if err := cfg.withDefaults().validate(); err != nil {
		return err
	}

	// Signals are caught from the start, so that one during start-up
	// still ends in a graceful stop.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	first := make(chan os.Signal, 1)
	sigDone := make(chan struct{})
	var sigWG sync.WaitGroup
	sigWG.Go(func() {
		select {
		case sig := <-sigs:
			first <- sig
		case <-sigDone:
			return
		}
		select {
		case sig := <-sigs:
			logger.Error("second signal: exiting at once; the log recovers on the next start", "signal", sig.String())
			exit(1)
		case <-sigDone:
		}
	})
	defer func() {
		signal.Stop(sigs)
		close(sigDone)
		sigWG.Wait()
	}()

	// Resources are set up in dependency order and torn down in the
	// reverse order by their actors' interrupts, which run.Group calls
	// one after another in the order the actors were added.
	var (
		mu       sync.Mutex
		stopErrs []error
		actors   []actor
		h        health
	)
	record := func(err error) {
		if err != nil {
			mu.Lock()
			stopErrs = append(stopErrs, err)
			mu.Unlock()
		}
	}
	abort := func(err error) error {
		h.stopping.Store(true)
		for i := len(actors) - 1; i >= 0; i-- {
			actors[i].interrupt(err)
		}
		return errors.Join(append([]error{err}, stopErrs...)...)
	}

	// First up and last down: /healthz answers while a long recovery
	// runs, and /readyz says "shutting down" until the very end.
	if o.MetricsAddr != "" {
		a, addr, err := listenHTTP(o.MetricsAddr, httpHandler(&h, reg, logger), logger.With("component", "http"))
		if err != nil {
			return abort(err)
		}
		actors = append(actors, a)
		if o.MetricsReady != nil {
			o.MetricsReady(addr.String())
		}
	}
	var log *segment.Log
	{
		l, err := openLog(o, logger)
		if err != nil {
			return abort(err)
		}
		log = l
		h.logOpen.Store(true)
		actors = append(actors, logActor(l, &h, record))
	}
	var ns *server.Server
	clientURL := o.NATSURL
	if o.NATSURL == "" {
		s, err := startServer(o, logger.With("component", "nats-server"))
		if err != nil {
			return abort(err)
		}
		ns, clientURL = s, s.ClientURL()
		logger.Info("embedded nats-server listening", "url", clientURL)
		actors = append(actors, serverActor(s))
	}
	var nc *nats.Conn
	{
		closed := make(chan struct{})
		c, err := connect(o, ns, closed, logger)
		if err != nil {
			return abort(err)
		}
		nc = c
		h.nc.Store(c)
		actors = append(actors, connActor(c, closed))
	}
	{
		lg, err := local.New(log, local.Config{Logger: logger.With("component", "log")})
		if err != nil {
			return abort(err)
		}
		svc, err := New(nc, lg, cfg)
		if err != nil {
			return abort(errors.Join(err, lg.Close()))
		}
		h.svc.Store(svc)
		actors = append(actors, serviceActor(svc, lg, record))
	}

	if o.Ready != nil {
		o.Ready(clientURL)
	}

	var g run.Group
	{
		// Added first, so its interrupt runs first whatever ends the
		// group: readiness flips before anything stops.
		stop := make(chan struct{})
		g.Add(func() error {
			var reason []any
			select {
			case sig := <-first:
				reason = []any{"signal", sig.String()}
			case <-ctx.Done():
				reason = []any{"cause", context.Cause(ctx)}
			case <-stop:
				return errStop
			}
			h.stopping.Store(true)
			logger.Info("stopping", reason...)
			return errStop
		}, func(error) {
			h.stopping.Store(true)
			close(stop)
		})
	}
	for i := len(actors) - 1; i >= 0; i-- {
		g.Add(actors[i].execute, actors[i].interrupt)
	}
	err := g.Run()
	if errors.Is(err, errStop) {
		err = nil
	} else {
		logger.Error("stopped on failure", "error", err)
	}
	logger.Info("stopped")
	return errors.Join(append([]error{err}, stopErrs...)...)
}

type actor struct {
	execute   func() error
	interrupt func(error)
}

// logActor closes the log when interrupted; it fails on its own never.
func logActor(l *segment.Log, h *health, record func(error)) actor {
	stop := make(chan struct{})
	var once sync.Once
	return actor{
		execute: func() error { <-stop; return nil },
		interrupt: func(error) {
			once.Do(func() {
				h.logOpen.Store(false)
				if err := l.Close(); err != nil {
					record(fmt.Errorf("close log: %w", err))
				}
				close(stop)
			})
		},
	}
}

// serverActor ends the run if the embedded server shuts down on its own,
// and shuts it down when interrupted.
func serverActor(s *server.Server) actor {
	stopped := make(chan struct{})
	var once sync.Once
	return actor{
		execute: func() error {
			s.WaitForShutdown()
			select {
			case <-stopped:
				return nil
			default:
				return errors.New("embedded nats-server shut down")
			}
		},
		interrupt: func(error) {
			once.Do(func() {
				close(stopped)
				s.Shutdown()
			})
		},
	}
}

// connActor ends the run if the connection closes on its own, and drains
// it when interrupted: draining flushes what the service has published.
func connActor(c *nats.Conn, closed <-chan struct{}) actor {
	stopped := make(chan struct{})
	var once sync.Once
	return actor{
		execute: func() error {
			select {
			case <-closed:
			case <-stopped:
				return nil
			}
			select {
			case <-stopped:
				return nil
			default:
				return errors.New("nats connection closed")
			}
		},
		interrupt: func(error) {
			once.Do(func() {
				close(stopped)
				if err := c.Drain(); err != nil {
					c.Close()
				}
				<-closed
			})
		},
	}
}

// serviceActor ends the run if the service fails, and stops it when
// interrupted.
func serviceActor(svc *Service, lg *local.Log, record func(error)) actor {
	stop := make(chan struct{})
	var once sync.Once
	return actor{
		execute: func() error {
			select {
			case <-svc.Failed():
				return svc.Err()
			case <-stop:
				return nil
			}
		},
		interrupt: func(error) {
			once.Do(func() {
				record(svc.Stop())
				record(lg.Close())
				close(stop)
			})
		},
	}
}

// openLog opens the log as the options say.
func openLog(o Options, logger *slog.Logger) (*segment.Log, error) {
	cfg := segment.Config{Logger: logger.With("component", "segment")}
	cfg.Segment.MaxStoreBytes = o.MaxStoreBytes
	cfg.Segment.MaxIndexBytes = o.MaxIndexBytes
	cfg.Sync.Mode = o.SyncMode
	cfg.Sync.Interval = o.SyncInterval
	l, err := segment.NewLog(o.Dir, cfg)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	logger.Info("log open", "dir", l.Dir(), "sync", o.SyncMode.String(), "next_offset", l.NextOffset())
	return l, nil
}

// startServer starts an embedded nats-server, configured by
// o.NATSConfigFile if given. It handles no signals: Run does, and stops it
// in order.
func startServer(o Options, logger *slog.Logger) (*server.Server, error) {
	opts := &server.Options{}
	if o.NATSConfigFile != "" {
		fo, err := server.ProcessConfigFile(o.NATSConfigFile)
		if err != nil {
			return nil, fmt.Errorf("%w: nats config: %v", ErrConfig, err)
		}
		opts = fo
		// An in-process connection the server turns away fails only
		// after the server's write deadline, with a closed pipe: catch
		// the likely mistake here.
		if natsAuthRequired(opts) && o.CredsFile == "" && o.NKeyFile == "" && o.Token == "" && o.User == "" {
			return nil, fmt.Errorf("%w: nats config %s requires users: give the service the credentials of one (User and Password, Token, NKeyFile or CredsFile)", ErrConfig, o.NATSConfigFile)
		}
	}
	listen := o.NATSListen
	if listen == "" && opts.Host == "" && opts.Port == 0 {
		listen = DefaultNATSListen
	}
	if listen != "" {
		host, portText, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("%w: nats listen address %q: %v", ErrConfig, listen, err)
		}
		port, err := strconv.Atoi(portText)
		if err != nil {
			return nil, fmt.Errorf("%w: nats listen port %q: %v", ErrConfig, portText, err)
		}
		opts.Host, opts.Port = host, port
	}
	if opts.ServerName == "" {
		opts.ServerName = "evlog"
	}
	opts.NoSigs = true
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	ns.SetLoggerV2(natsLogger{logger}, opts.Debug, opts.Trace, false)
	ns.Start()
	if !ns.ReadyForConnections(readyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats-server not ready on %s:%d within %v", opts.Host, opts.Port, readyTimeout)
	}
	return ns, nil
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

// connect joins the embedded server in-process, or the external one over
// TLS if configured, with the options' credentials in both cases. closed
// is closed when the connection is.
func connect(o Options, ns *server.Server, closed chan struct{}, logger *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("evlog " + o.Prefix),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
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
	url := o.NATSURL
	if ns != nil {
		url = ns.ClientURL()
		opts = append(opts, nats.InProcessServer(ns))
	} else {
		opts = append(opts, nats.MaxReconnects(-1))
		if o.TLSCAFile != "" {
			opts = append(opts, nats.RootCAs(o.TLSCAFile))
		}
		if o.TLSCertFile != "" {
			opts = append(opts, nats.ClientCert(o.TLSCertFile, o.TLSKeyFile))
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		if ns != nil {
			return nil, fmt.Errorf("connect to the embedded nats-server: %w (if its config requires users, check the service's credentials)", err)
		}
		return nil, fmt.Errorf("connect to nats at %s: %w", url, err)
	}
	logger.Info("connected to nats", "url", nc.ConnectedUrlRedacted(), "max_payload", nc.MaxPayload())
	return nc, nil
}
