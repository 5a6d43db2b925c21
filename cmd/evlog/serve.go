package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/dedup"
	"github.com/evlog/evlog/service/node"
)

// runService is node.Run; tests replace it to see the options that the
// command line, the environment and the config file resolve to.
var runService = node.Run

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
to --nats-url or to the embedded server when --nats-config requires users.
Prefer EVLOG_NATS_PASSWORD, EVLOG_NATS_TOKEN or a file (--nats-creds,
--nats-nkey, --config) to the flags: command lines show in ps.

The embedded server needs no authentication on loopback. On any other
address it refuses to start unless clients must authenticate (users in
--nats-config, or client certificates with --nats-server-tls-ca) or
--allow-anonymous lets anyone connect. --nats-server-tls-cert and
--nats-server-tls-key put TLS on its client port; the --nats-tls-* options
are the service's side of a connection to --nats-url.

With --node-id, --raft-addr and --peers the node is one member of a
cluster of 3 or 5 that replicate one log with Raft: each node has its own
--dir, the leader takes appends and acknowledges them once a majority has
them, and every node serves reads. The nodes share one NATS: --nats-url,
or their embedded servers routed together with --nats-cluster-listen and
--nats-routes. --sync does not apply: Raft's log is synced for every
batch. See "evlog cluster status".`

// serveFlags are the options of `evlog serve`.
type serveFlags struct {
	config, dir, prefix                  *string
	natsURL, natsListen, natsConfig      *string
	syncMode                             *string
	syncInterval                         *time.Duration
	storeBytes, indexBytes               *uint64
	retentionBytes                       *uint64
	retentionAge                         *time.Duration
	recordBytes, readBytes, batchRecords *int
	pendingAppends, parkedReads          *int
	maxWait                              *time.Duration
	maxSnapshots                         *int
	snapshotAckTimeout                   *time.Duration
	dedupWindow                          *time.Duration
	dedupMaxIDs                          *int
	auth                                 natsAuthFlags
	serverTLSCert, serverTLSKey          *string
	serverTLSCA                          *string
	allowAnonymous                       *bool
	nodeID, raftAddr, raftAdvertise      *string
	raftTLSCert, raftTLSKey, raftTLSCA   *string
	peers                                *string
	natsClusterListen, natsRoutes        *string
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
		natsListen: fs.String("nats-listen", "", "host:port of the embedded NATS server (default "+node.DefaultNATSListen+", or the listen address of --nats-config)"),
		natsConfig: fs.String("nats-config", "", "nats-server config `file` for the embedded server: accounts, users, permissions, TLS"),

		syncMode:     fs.String("sync", "always", "when appends are synced to disk. Every mode survives a process crash (kill -9) with nothing acknowledged lost. always: also a power loss, no offset ever reused; interval: a power loss may lose the last --sync-interval of appends and hand their offsets out again; never: a power loss may lose any recent append and reuse its offset"),
		syncInterval: fs.Duration("sync-interval", segment.DefaultSyncInterval, "sync period for --sync interval"),
		storeBytes:   fs.Uint64("max-store-bytes", segment.DefaultMaxStoreBytes, "segment store size at which the log rolls to a new segment; must hold the largest record"),
		indexBytes:   fs.Uint64("max-index-bytes", segment.DefaultMaxIndexBytes, "segment index size (12 bytes a record) at which the log rolls"),

		retentionBytes: fs.Uint64("retention-bytes", 0, "keep about this many bytes of stores: delete the oldest sealed segments while the total exceeds it; at least --max-store-bytes (0: off)"),
		retentionAge:   fs.Duration("retention-age", 0, "delete a sealed segment once its newest record is older than this, e.g. 168h; at least 1s (0: off)"),

		recordBytes:        fs.Int("max-record-bytes", d.MaxRecordBytes, "largest record accepted, in msgpack bytes; larger ones get 413 (lowered to fit the NATS max payload)"),
		readBytes:          fs.Int("max-read-bytes", d.MaxReadBytes, "most record bytes in one read reply; at least --max-record-bytes (the NATS max payload also applies)"),
		batchRecords:       fs.Int("max-batch-records", d.MaxBatchRecords, "most records in one append request; more get 413"),
		pendingAppends:     fs.Int("max-pending-appends", d.MaxPendingAppends, "most append requests waiting for the disk; more get 503"),
		parkedReads:        fs.Int("max-parked-reads", d.MaxParkedReads, "most long-poll reads waiting at once; more get 503"),
		maxWait:            fs.Duration("max-wait", d.MaxWait, "longest wait_ms a read may wait for new records"),
		maxSnapshots:       fs.Int("max-snapshots", d.MaxSnapshots, "most snapshots streaming at once; more get 503"),
		snapshotAckTimeout: fs.Duration("snapshot-ack-timeout", d.SnapshotAckTimeout, "how long a snapshot waits for its requester to acknowledge a chunk before giving up"),

		dedupWindow: fs.Duration("dedup-window", dedup.DefaultWindow, "how long an append id is remembered: a retry with the id within it is answered as a duplicate"),
		dedupMaxIDs: fs.Int("dedup-max-ids", dedup.DefaultMaxIDs, "most append ids remembered, the oldest evicted first (about 150 bytes each besides the id)"),

		auth: addNATSAuthFlags(fs, "the service's connection"),

		serverTLSCert:  fs.String("nats-server-tls-cert", "", "certificate `file` of the embedded server: its client port then requires TLS"),
		serverTLSKey:   fs.String("nats-server-tls-key", "", "key `file` of --nats-server-tls-cert"),
		serverTLSCA:    fs.String("nats-server-tls-ca", "", "CA certificate `file`: the embedded server then requires client certificates it signed"),
		allowAnonymous: fs.Bool("allow-anonymous", false, "let the embedded server listen beyond loopback without authenticating clients (logged as a warning)"),

		nodeID:            fs.String("node-id", "", "id of this node in a cluster (letters, digits, - and _); empty runs a single node"),
		raftAddr:          fs.String("raft-addr", "", "host:port Raft listens on, for a node of a cluster"),
		raftAdvertise:     fs.String("raft-advertise", "", "host:port the other nodes reach Raft at, when it differs from --raft-addr"),
		raftTLSCert:       fs.String("raft-tls-cert", "", "PEM certificate `file` of this node for Raft's mutual TLS; it must name the address the other nodes dial and allow server and client use"),
		raftTLSKey:        fs.String("raft-tls-key", "", "PEM key `file` of --raft-tls-cert"),
		raftTLSCA:         fs.String("raft-tls-ca", "", "PEM CA `file` that signs every node's Raft certificate; peers without one are refused"),
		peers:             fs.String("peers", "", "the initial cluster, ID=HOST:PORT,... (Raft addresses, this node included, the same on every node); ignored once Raft state exists"),
		natsClusterListen: fs.String("nats-cluster-listen", "", "host:port on which the embedded NATS server routes to the other nodes' servers"),
		natsRoutes:        fs.String("nats-routes", "", "the other nodes' embedded NATS servers, nats-route://HOST:PORT,..."),

		metricsAddr: fs.String("metrics-addr", "", "host:port serving /metrics, /healthz and /readyz over HTTP, e.g. 127.0.0.1:9090 (default off)"),
		logLevel:    fs.String("log-level", "info", "debug, info, warn or error"),
		logJSON:     fs.Bool("log-json", false, "log JSON lines instead of text"),
	}
}

// options turns the flags into node.Options, which node validates. Every
// error names the option at fault and exits with 2.
func (f *serveFlags) options(stderr io.Writer) (node.Options, error) {
	mode, err := segment.ParseSyncMode(*f.syncMode)
	if err != nil {
		return node.Options{}, usageError{fmt.Errorf("--sync: %w", err)}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*f.logLevel)); err != nil {
		return node.Options{}, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	if err := f.checkExplicit(); err != nil {
		return node.Options{}, usageError{err}
	}
	hopts := &slog.HandlerOptions{Level: level}
	logger := slog.New(slog.NewTextHandler(stderr, hopts))
	if *f.logJSON {
		logger = slog.New(slog.NewJSONHandler(stderr, hopts))
	}
	o := node.Options{
		Dir:                *f.dir,
		Prefix:             *f.prefix,
		NATSURL:            *f.natsURL,
		NATSListen:         *f.natsListen,
		NATSConfigFile:     *f.natsConfig,
		CredsFile:          *f.auth.creds,
		NKeyFile:           *f.auth.nkey,
		User:               *f.auth.user,
		Password:           *f.auth.password,
		Token:              *f.auth.token,
		TLSCAFile:          *f.auth.tlsCA,
		TLSCertFile:        *f.auth.tlsCert,
		TLSKeyFile:         *f.auth.tlsKey,
		ServerTLSCertFile:  *f.serverTLSCert,
		ServerTLSKeyFile:   *f.serverTLSKey,
		ServerTLSCAFile:    *f.serverTLSCA,
		AllowAnonymous:     *f.allowAnonymous,
		SyncMode:           mode,
		SyncInterval:       *f.syncInterval,
		MaxStoreBytes:      *f.storeBytes,
		MaxIndexBytes:      *f.indexBytes,
		RetentionBytes:     *f.retentionBytes,
		RetentionAge:       *f.retentionAge,
		MaxRecordBytes:     *f.recordBytes,
		MaxReadBytes:       *f.readBytes,
		MaxBatchRecords:    *f.batchRecords,
		MaxPendingAppends:  *f.pendingAppends,
		MaxParkedReads:     *f.parkedReads,
		MaxWait:            *f.maxWait,
		MaxSnapshots:       *f.maxSnapshots,
		SnapshotAckTimeout: *f.snapshotAckTimeout,
		DedupWindow:        *f.dedupWindow,
		DedupMaxIDs:        *f.dedupMaxIDs,
		NodeID:             *f.nodeID,
		RaftAddr:           *f.raftAddr,
		RaftAdvertise:      *f.raftAdvertise,
		RaftTLSCertFile:    *f.raftTLSCert,
		RaftTLSKeyFile:     *f.raftTLSKey,
		RaftTLSCAFile:      *f.raftTLSCA,
		Peers:              *f.peers,
		NATSClusterListen:  *f.natsClusterListen,
		NATSRoutes:         *f.natsRoutes,
		MetricsAddr:        *f.metricsAddr,
		Logger:             logger,
	}
	if err := o.Validate(); err != nil {
		return o, usageError{err}
	}
	return o, nil
}

// checkExplicit refuses empty and zero values. node.Options reads them as
// "the default", but every flag shows its default explicitly, so on the
// command line they are mistakes.
func (f *serveFlags) checkExplicit() error {
	if *f.dir == "" {
		return errors.New("--dir must not be empty")
	}
	for _, c := range []struct {
		name string
		ok   bool
		v    any
	}{
		{"sync-interval", *f.syncInterval > 0, *f.syncInterval},
		{"max-record-bytes", *f.recordBytes > 0, *f.recordBytes},
		{"max-read-bytes", *f.readBytes > 0, *f.readBytes},
		{"max-batch-records", *f.batchRecords > 0, *f.batchRecords},
		{"max-pending-appends", *f.pendingAppends > 0, *f.pendingAppends},
		{"max-parked-reads", *f.parkedReads > 0, *f.parkedReads},
		{"max-wait", *f.maxWait > 0, *f.maxWait},
		{"max-snapshots", *f.maxSnapshots > 0, *f.maxSnapshots},
		{"snapshot-ack-timeout", *f.snapshotAckTimeout > 0, *f.snapshotAckTimeout},
		{"dedup-window", *f.dedupWindow > 0, *f.dedupWindow},
		{"dedup-max-ids", *f.dedupMaxIDs > 0, *f.dedupMaxIDs},
	} {
		if !c.ok {
			return fmt.Errorf("--%s must be positive, got %v", c.name, c.v)
		}
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
