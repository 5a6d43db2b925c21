package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
)

// runService is service.Run; tests replace it to see the options that
// the command line, the environment and the config file resolve to.
var runService = service.Run

// frameHeader is the bytes a record's frame adds in a segment store.
const frameHeader = 8

const serveHelp = `Run the evlog service. Without --nats-url it starts an embedded NATS
server on --nats-listen, so this one command runs everything.

Every option is read, in this order of precedence, from
  1. the command line              --max-record-bytes 65536
  2. the environment               EVLOG_MAX_RECORD_BYTES=65536
  3. the config file (--config)    max-record-bytes 65536
  4. the default shown below
An environment variable is EVLOG_ and the flag's name in upper case with
dashes as underscores. The config file holds one option a line, "name value", named as the flag
without its dashes; blank lines and lines starting with # are ignored, and
so is the rest of a line after " #".

With --metrics-addr, an HTTP listener serves /metrics (Prometheus),
/healthz (200 while the process runs) and /readyz (200 when the log is
open, NATS is connected and the service is not shutting down; 503 and the
reason otherwise).

The service's NATS connection authenticates with at most one of
--nats-creds, --nats-nkey, --nats-token or --nats-user/--nats-password,
to --nats-url or to the embedded server when --nats-config requires users.`

// serveFlags are the options of `evlog serve`.
type serveFlags struct {
	config, dir, prefix                  *string
	natsURL, natsListen, natsConfig      *string
	syncMode                             *string
	syncInterval                         *time.Duration
	storeBytes, indexBytes               *uint64
	recordBytes, readBytes, batchRecords *int
	pendingAppends, parkedReads          *int
	maxWait                              *time.Duration
	creds, nkey, user, password, token   *string
	tlsCA, tlsCert, tlsKey               *string
	metricsAddr                          *string
	logLevel                             *string
	logJSON                              *bool
}

func addServeFlags(fs *flag.FlagSet) *serveFlags {
	d := service.DefaultConfig()
	return &serveFlags{
		config: fs.String("config", "", "config `file` of options (format above)"),
		dir:    fs.String("dir", "./data", "data directory of the log"),
		prefix: fs.String("prefix", messages.DefaultPrefix, "subject prefix: the service answers PREFIX.append, PREFIX.read, ..."),

		natsURL:    fs.String("nats-url", "", "join this NATS deployment instead of starting an embedded server"),
		natsListen: fs.String("nats-listen", "", "host:port of the embedded NATS server (default "+service.DefaultNATSListen+", or the listen address of --nats-config)"),
		natsConfig: fs.String("nats-config", "", "nats-server config `file` for the embedded server: accounts, users, permissions, TLS"),

		syncMode:     fs.String("sync", "always", "when appends are synced to disk: always (acknowledged means durable), interval, never"),
		syncInterval: fs.Duration("sync-interval", segment.DefaultSyncInterval, "sync period for --sync interval"),
		storeBytes:   fs.Uint64("max-store-bytes", segment.DefaultMaxStoreBytes, "segment store size at which the log rolls to a new segment; must hold the largest record"),
		indexBytes:   fs.Uint64("max-index-bytes", segment.DefaultMaxIndexBytes, "segment index size (12 bytes a record) at which the log rolls"),

		recordBytes:    fs.Int("max-record-bytes", d.MaxRecordBytes, "largest record accepted, in msgpack bytes; larger ones get 413 (lowered to fit the NATS max payload)"),
		readBytes:      fs.Int("max-read-bytes", d.MaxReadBytes, "most record bytes in one read reply; at least --max-record-bytes (the NATS max payload also applies)"),
		batchRecords:   fs.Int("max-batch-records", d.MaxBatchRecords, "most records in one append request; more get 413"),
		pendingAppends: fs.Int("max-pending-appends", d.MaxPendingAppends, "most append requests waiting for the disk; more get 503"),
		parkedReads:    fs.Int("max-parked-reads", d.MaxParkedReads, "most long-poll reads waiting at once; more get 503"),
		maxWait:        fs.Duration("max-wait", d.MaxWait, "longest wait_ms a read may wait for new records"),

		creds:    fs.String("nats-creds", "", "NATS credentials `file` of the service's connection"),
		nkey:     fs.String("nats-nkey", "", "NATS nkey seed `file` of the service's connection"),
		user:     fs.String("nats-user", "", "NATS user of the service's connection"),
		password: fs.String("nats-password", "", "NATS password of --nats-user"),
		token:    fs.String("nats-token", "", "NATS token of the service's connection"),
		tlsCA:    fs.String("nats-tls-ca", "", "CA certificate `file` to verify the --nats-url server"),
		tlsCert:  fs.String("nats-tls-cert", "", "client certificate `file` for --nats-url"),
		tlsKey:   fs.String("nats-tls-key", "", "client key `file` for --nats-url"),

		metricsAddr: fs.String("metrics-addr", "", "host:port serving /metrics, /healthz and /readyz over HTTP, e.g. 127.0.0.1:9090 (default off)"),
		logLevel:    fs.String("log-level", "info", "debug, info, warn or error"),
		logJSON:     fs.Bool("log-json", false, "log JSON lines instead of text"),
	}
}

// options checks the flags and turns them into service.Options. Every
// error names the option at fault.
func (f *serveFlags) options(stderr io.Writer) (service.Options, error) {
	var o service.Options
	bad := func(format string, args ...any) (service.Options, error) {
		return o, usageError{fmt.Errorf(format, args...)}
	}
	mode, err := segment.ParseSyncMode(*f.syncMode)
	if err != nil {
		return bad("--sync: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*f.logLevel)); err != nil {
		return bad("--log-level: %w", err)
	}
	if err := messages.ValidatePrefix(*f.prefix); err != nil {
		return bad("--prefix: %w", err)
	}
	if *f.syncInterval <= 0 {
		return bad("--sync-interval must be positive, got %v", *f.syncInterval)
	}
	if *f.dir == "" {
		return bad("--dir must not be empty")
	}
	for _, c := range []struct {
		name string
		v    int
	}{
		{"max-record-bytes", *f.recordBytes},
		{"max-read-bytes", *f.readBytes},
		{"max-batch-records", *f.batchRecords},
		{"max-pending-appends", *f.pendingAppends},
		{"max-parked-reads", *f.parkedReads},
	} {
		if c.v <= 0 {
			return bad("--%s must be positive, got %d", c.name, c.v)
		}
	}
	// The counts are allocated up front (the pending queue is a buffered
	// channel): bound them so that a typo is a usage error, not an
	// out-of-memory crash after the log is open.
	for _, c := range []struct {
		name string
		v    int
	}{
		{"max-batch-records", *f.batchRecords},
		{"max-pending-appends", *f.pendingAppends},
		{"max-parked-reads", *f.parkedReads},
	} {
		if c.v > maxCount {
			return bad("--%s must be at most %d, got %d", c.name, maxCount, c.v)
		}
	}
	if *f.maxWait <= 0 {
		return bad("--max-wait must be positive, got %v", *f.maxWait)
	}
	if *f.readBytes < *f.recordBytes {
		return bad("--max-read-bytes %d is below --max-record-bytes %d: accepted records could not be read", *f.readBytes, *f.recordBytes)
	}
	if need := uint64(*f.recordBytes) + frameHeader; *f.storeBytes < need {
		return bad("--max-store-bytes %d is too small: a record of --max-record-bytes %d needs %d", *f.storeBytes, *f.recordBytes, need)
	}
	if *f.indexBytes < 12 {
		return bad("--max-index-bytes %d is too small: an index entry takes 12 bytes", *f.indexBytes)
	}
	if *f.metricsAddr != "" {
		if err := checkListen(*f.metricsAddr); err != nil {
			return bad("--metrics-addr %q: %v", *f.metricsAddr, err)
		}
	}
	if *f.natsURL != "" {
		switch {
		case *f.natsListen != "":
			return bad("--nats-listen is for the embedded server and conflicts with --nats-url")
		case *f.natsConfig != "":
			return bad("--nats-config is for the embedded server and conflicts with --nats-url")
		}
	} else {
		if l := *f.natsListen; l != "" {
			// Port -1 picks a free port.
			if h, p, err := net.SplitHostPort(l); err != nil || p != "-1" && checkListen(net.JoinHostPort(h, p)) != nil {
				return bad("--nats-listen %q: want host:port with a port from 0 to 65535 (or -1 for any free port)", l)
			}
		}
		for _, c := range []struct{ name, v string }{
			{"nats-tls-ca", *f.tlsCA}, {"nats-tls-cert", *f.tlsCert}, {"nats-tls-key", *f.tlsKey},
		} {
			if c.v != "" {
				return bad("--%s needs --nats-url: the embedded server is joined in-process, without TLS", c.name)
			}
		}
	}
	var ways []string
	for _, c := range []struct {
		name string
		set  bool
	}{
		{"--nats-creds", *f.creds != ""},
		{"--nats-nkey", *f.nkey != ""},
		{"--nats-token", *f.token != ""},
		{"--nats-user", *f.user != "" || *f.password != ""},
	} {
		if c.set {
			ways = append(ways, c.name)
		}
	}
	switch {
	case len(ways) > 1:
		return bad("%s and %s conflict: give one way to authenticate to NATS", ways[0], ways[1])
	case *f.password != "" && *f.user == "":
		return bad("--nats-password needs --nats-user")
	case (*f.tlsCert == "") != (*f.tlsKey == ""):
		return bad("--nats-tls-cert and --nats-tls-key go together")
	}

	hopts := &slog.HandlerOptions{Level: level}
	var logger *slog.Logger
	if *f.logJSON {
		logger = slog.New(slog.NewJSONHandler(stderr, hopts))
	} else {
		logger = slog.New(slog.NewTextHandler(stderr, hopts))
	}
	return service.Options{
		Dir:               *f.dir,
		Prefix:            *f.prefix,
		NATSURL:           *f.natsURL,
		NATSListen:        *f.natsListen,
		NATSConfigFile:    *f.natsConfig,
		CredsFile:         *f.creds,
		NKeyFile:          *f.nkey,
		User:              *f.user,
		Password:          *f.password,
		Token:             *f.token,
		TLSCAFile:         *f.tlsCA,
		TLSCertFile:       *f.tlsCert,
		TLSKeyFile:        *f.tlsKey,
		SyncMode:          mode,
		SyncInterval:      *f.syncInterval,
		MaxStoreBytes:     *f.storeBytes,
		MaxIndexBytes:     *f.indexBytes,
		MaxRecordBytes:    *f.recordBytes,
		MaxReadBytes:      *f.readBytes,
		MaxBatchRecords:   *f.batchRecords,
		MaxPendingAppends: *f.pendingAppends,
		MaxParkedReads:    *f.parkedReads,
		MaxWait:           *f.maxWait,
		MetricsAddr:       *f.metricsAddr,
		Logger:            logger,
	}, nil
}

// maxCount bounds the count options; service.Config refuses more too.
const maxCount = 1 << 20

// checkListen checks a host:port to listen on.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return errors.New("the port must be a number from 0 to 65535")
	}
	return nil
}

// configParser reads the config file: ff's plain format, with errors that
// say where they come from.
func configParser(r io.Reader, set func(name, value string) error) error {
	if err := ff.PlainParser(r, set); err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	return nil
}

func serveCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog serve", flag.ContinueOnError)
	f := addServeFlags(fs)
	return &ffcli.Command{
		Name:       "serve",
		ShortUsage: "evlog serve [flags]",
		ShortHelp:  "run the evlog service",
		LongHelp:   serveHelp,
		FlagSet:    fs,
		// The environment (EVLOG_*) is added for every command in run.
		Options: []ff.Option{
			ff.WithConfigFileFlag("config"),
			ff.WithConfigFileParser(configParser),
		},
		Exec: func(ctx context.Context, args []string) error {
			if err := noArgs("serve", args); err != nil {
				return err
			}
			o, err := f.options(stderr)
			if err != nil {
				return err
			}
			return runService(ctx, o)
		},
	}
}
