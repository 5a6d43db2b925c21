package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
)

// Defaults of Options.
const (
	// DefaultDir is the data directory of the binary.
	DefaultDir = "data"
	// DefaultNATSListen is where the embedded nats-server listens: the
	// port NATS clients and the nats CLI try first, on loopback only.
	DefaultNATSListen = "127.0.0.1:4222"
)

// ErrConfig is returned, wrapped, by Validate and Run for options that
// cannot work; the message names the option by its evlog serve flag.
var ErrConfig = errors.New("invalid options")

// Options configures Run. The zero value of each field means its default.
// Each field's comment names the evlog serve flag that sets it.
type Options struct {
	// Dir (--dir) is the log's data directory, created if missing.
	// Default "data".
	Dir string
	// Prefix (--prefix) is the subject prefix. Default "evlog".
	Prefix string

	// NATSURL (--nats-url) is the NATS server to join. Empty starts an
	// embedded nats-server.
	NATSURL string
	// NATSListen (--nats-listen) is the host:port of the embedded server;
	// port -1 picks a free port. Default: the listen address of
	// NATSConfigFile if it has one, else 127.0.0.1:4222. It conflicts with
	// NATSURL.
	NATSListen string
	// NATSConfigFile (--nats-config) is a nats-server configuration file
	// for the embedded server: accounts, users and their permissions, TLS,
	// limits. NATSListen overrides its listen address. It conflicts with
	// NATSURL.
	NATSConfigFile string
	// CredsFile (--nats-creds), User and Password (--nats-user,
	// --nats-password), Token (--nats-token) and NKeyFile (--nats-nkey, a
	// seed file) authenticate the node's connection, to NATSURL or to the
	// embedded server, whose in-process connection needs them when
	// NATSConfigFile requires authentication. At most one of the four
	// ways may be given.
	CredsFile, User, Password, Token, NKeyFile string
	// TLSCAFile (--nats-tls-ca) verifies NATSURL's certificate;
	// TLSCertFile and TLSKeyFile (--nats-tls-cert, --nats-tls-key) are a
	// client certificate for it. They need NATSURL: the in-process
	// connection to the embedded server needs no TLS.
	TLSCAFile, TLSCertFile, TLSKeyFile string

	// ServerTLSCertFile and ServerTLSKeyFile (--nats-server-tls-cert,
	// --nats-server-tls-key) make the embedded server's client port
	// require TLS with this certificate; ServerTLSCAFile
	// (--nats-server-tls-ca) also makes it require client certificates
	// signed by this CA. They conflict with NATSURL, and override the TLS
	// of NATSConfigFile. The in-process connection needs no TLS.
	ServerTLSCertFile, ServerTLSKeyFile, ServerTLSCAFile string
	// AllowAnonymous (--allow-anonymous) lets the embedded server listen
	// on an address other than loopback without authenticating clients
	// (no users in NATSConfigFile, no client certificates). Without it
	// such a start is refused; with it, Run logs a warning and /readyz
	// says so. Loopback addresses need no authentication.
	AllowAnonymous bool

	// SyncMode (--sync) is the log's sync mode. Default segment.SyncAlways.
	SyncMode segment.SyncMode
	// SyncInterval (--sync-interval) is the period of
	// segment.SyncInterval. Default 1 s.
	SyncInterval time.Duration
	// MaxStoreBytes and MaxIndexBytes (--max-store-bytes,
	// --max-index-bytes) size the segments; zero means the segment
	// package's defaults. A store must hold the largest record.
	MaxStoreBytes, MaxIndexBytes uint64
	// RetentionBytes (--retention-bytes), when not 0, bounds the stores'
	// total size: the oldest sealed segments are deleted while it is
	// exceeded. It must be at least the store size (MaxStoreBytes), or
	// every sealed segment would go as soon as it is sealed. Default 0:
	// off.
	RetentionBytes uint64
	// RetentionAge (--retention-age), when not 0, is how long a sealed
	// segment is kept after its newest record; at least 1 s. Default 0:
	// off. Both policies delete whole sealed segments only, never the
	// active one, when the log rolls and on a timer (a tenth of
	// RetentionAge, from 1 s to 1 min); each removal is published as an
	// event.
	RetentionAge time.Duration

	// MaxRecordBytes, MaxReadBytes, MaxBatchRecords, MaxPendingAppends,
	// MaxParkedReads and MaxWait (--max-record-bytes and so on) are the
	// service's limits (see service.Config); zero means its defaults.
	MaxRecordBytes, MaxReadBytes, MaxBatchRecords int
	MaxPendingAppends, MaxParkedReads             int
	MaxWait                                       time.Duration
	// MaxSnapshots and SnapshotAckTimeout (--max-snapshots,
	// --snapshot-ack-timeout) bound the snapshots streaming at once and
	// how long one waits for its requester; zero means the service's
	// defaults.
	MaxSnapshots       int
	SnapshotAckTimeout time.Duration

	// DedupWindow (--dedup-window) is how long an append id is
	// remembered; DedupMaxIDs (--dedup-max-ids) how many at most. Zero
	// means dedup.DefaultWindow and dedup.DefaultMaxIDs.
	DedupWindow time.Duration
	DedupMaxIDs int

	// NodeID (--node-id), when set, makes the node a member of a cluster
	// (cluster.go): its log is replicated with Raft (service/raftlog)
	// across the nodes of Peers, and Dir holds Raft's state under raft/
	// and the log under log/. Empty: a single node. It must be a single
	// NATS subject token of letters, digits, '-' and '_'.
	NodeID string
	// RaftAddr (--raft-addr) is the host:port Raft listens on; required
	// with NodeID. RaftAdvertise (--raft-advertise) is the address the
	// other nodes reach this one at, when it differs (a wildcard bind).
	RaftAddr, RaftAdvertise string
	// RaftTLSCertFile, RaftTLSKeyFile and RaftTLSCAFile (--raft-tls-cert,
	// --raft-tls-key, --raft-tls-ca), all three or none, give Raft's
	// transport mutual TLS: this node's certificate and key, and the CA
	// that signs every node's. Without them Raft may bind to a loopback
	// address only, unless AllowAnonymous.
	RaftTLSCertFile, RaftTLSKeyFile, RaftTLSCAFile string
	// Peers (--peers) is the initial cluster, ID=HOST:PORT,..., this node
	// included, the same on every node. It bootstraps the cluster when
	// the node has no Raft state and is ignored once it has. Empty: the
	// node waits to be contacted by a cluster.
	Peers string
	// NATSClusterListen (--nats-cluster-listen) is the host:port on which
	// the embedded server routes to the other nodes' embedded servers,
	// NATSRoutes (--nats-routes) their nats-route:// URLs, comma
	// separated, so that the nodes share one NATS without an external
	// one. They conflict with NATSURL.
	NATSClusterListen, NATSRoutes string

	// MetricsAddr (--metrics-addr) is the host:port of the HTTP listener
	// that serves /metrics, /healthz and /readyz; port 0 picks a free
	// port. Empty serves no HTTP.
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

// Validate reports whether Run can start with o, without creating or
// binding anything. It checks what only the node knows (addresses, NATS
// options that conflict, whether a store holds the largest record) and
// hands the rest to segment.Config.Validate and service.Config.Validate.
// Every error wraps ErrConfig and names the option at fault by its flag.
func (o Options) Validate() error {
	o = o.withDefaults()
	for _, check := range []func() error{o.checkAddrs, o.checkNATS, o.checkAuth, o.checkServerTLS, o.checkEmbedded, o.checkSizes, o.checkRetention, o.checkDedup, o.checkCluster} {
		if err := check(); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if err := o.segmentConfig().Validate(); err != nil {
		return fmt.Errorf("%w: %s", ErrConfig, flagNames(err, segment.ErrConfig))
	}
	if err := serviceConfig(o, nil).Validate(); err != nil {
		return fmt.Errorf("%w: %s", ErrConfig, flagNames(err, service.ErrConfig))
	}
	return nil
}

func (o Options) checkAddrs() error {
	if err := messages.ValidatePrefix(o.Prefix); err != nil {
		return fmt.Errorf("--prefix: %w", err)
	}
	if o.MetricsAddr != "" {
		if err := checkAddr(o.MetricsAddr, false); err != nil {
			return fmt.Errorf("--metrics-addr %q: %w", o.MetricsAddr, err)
		}
	}
	if o.NATSListen != "" {
		if err := checkAddr(o.NATSListen, true); err != nil {
			return fmt.Errorf("--nats-listen %q: %w", o.NATSListen, err)
		}
	}
	return nil
}

func (o Options) checkNATS() error {
	if o.NATSURL != "" {
		switch {
		case o.NATSListen != "":
			return errors.New("--nats-listen is for the embedded server and conflicts with --nats-url")
		case o.NATSConfigFile != "":
			return errors.New("--nats-config is for the embedded server and conflicts with --nats-url")
		case o.ServerTLSCertFile != "" || o.ServerTLSKeyFile != "" || o.ServerTLSCAFile != "":
			return errors.New("--nats-server-tls-cert, --nats-server-tls-key and --nats-server-tls-ca are for the embedded server and conflict with --nats-url")
		case o.AllowAnonymous:
			return errors.New("--allow-anonymous is for the embedded server and conflicts with --nats-url")
		}
		return nil
	}
	for _, c := range []struct{ flag, v string }{
		{"--nats-tls-ca", o.TLSCAFile}, {"--nats-tls-cert", o.TLSCertFile}, {"--nats-tls-key", o.TLSKeyFile},
	} {
		if c.v != "" {
			return fmt.Errorf("%s needs --nats-url: the embedded server is joined in-process, without TLS (its own TLS is --nats-server-tls-cert and --nats-server-tls-key)", c.flag)
		}
	}
	return nil
}

func (o Options) checkAuth() error {
	var ways []string
	for _, c := range []struct {
		flag string
		set  bool
	}{
		{"--nats-creds", o.CredsFile != ""},
		{"--nats-nkey", o.NKeyFile != ""},
		{"--nats-token", o.Token != ""},
		{"--nats-user", o.User != "" || o.Password != ""},
	} {
		if c.set {
			ways = append(ways, c.flag)
		}
	}
	switch {
	case len(ways) > 1:
		return fmt.Errorf("%s and %s conflict: give one way to authenticate to NATS", ways[0], ways[1])
	case o.Password != "" && o.User == "":
		return errors.New("--nats-password needs --nats-user")
	case (o.TLSCertFile == "") != (o.TLSKeyFile == ""):
		return errors.New("--nats-tls-cert and --nats-tls-key go together")
	}
	return nil
}

// checkServerTLS refuses a half-given server certificate, and a CA for
// client certificates without one.
func (o Options) checkServerTLS() error {
	switch {
	case (o.ServerTLSCertFile == "") != (o.ServerTLSKeyFile == ""):
		return errors.New("--nats-server-tls-cert and --nats-server-tls-key go together")
	case o.ServerTLSCAFile != "" && o.ServerTLSCertFile == "":
		return errors.New("--nats-server-tls-ca needs --nats-server-tls-cert and --nats-server-tls-key: client certificates are verified over TLS")
	}
	return nil
}

// checkEmbedded reads the embedded server's configuration the way Run
// will, so that a broken --nats-config, an unreadable certificate or a
// server open to the network without authentication is refused before
// anything starts.
func (o Options) checkEmbedded() error {
	if o.NATSURL != "" {
		return nil
	}
	opts, err := serverOptions(o)
	if err != nil {
		return err
	}
	if exposed(opts) && !o.AllowAnonymous {
		return fmt.Errorf("the embedded nats-server would accept anyone from the network on %s: "+
			"give --nats-config FILE with users (as deployments/nats/roles.conf), or --nats-server-tls-ca FILE to require client certificates, "+
			"or --allow-anonymous to allow it; or listen on loopback (--nats-listen 127.0.0.1:4222)", listenAddr(opts))
	}
	return nil
}

// frameHeader is the bytes a record's frame adds in a segment store.
const frameHeader = 8

// checkSizes checks what neither the log nor the service can: that a
// store holds the largest record the service accepts.
func (o Options) checkSizes() error {
	store, record := o.MaxStoreBytes, o.MaxRecordBytes
	if store == 0 {
		store = segment.DefaultMaxStoreBytes
	}
	if record <= 0 {
		// Negative is the service's to refuse.
		record = service.DefaultMaxRecordBytes
	}
	if need := uint64(record) + frameHeader; store < need {
		return fmt.Errorf("--max-store-bytes %d is too small: a record of --max-record-bytes %d needs %d", store, record, need)
	}
	return nil
}

// checkRetention refuses retention limits that cannot mean what they say.
func (o Options) checkRetention() error {
	switch {
	case o.RetentionAge < 0:
		return fmt.Errorf("--retention-age %v is negative (0 keeps records regardless of age)", o.RetentionAge)
	case o.RetentionAge > 0 && o.RetentionAge < minRetentionAge:
		return fmt.Errorf("--retention-age %v is below %v, the retention policy's resolution", o.RetentionAge, minRetentionAge)
	}
	store := o.MaxStoreBytes
	if store == 0 {
		store = segment.DefaultMaxStoreBytes
	}
	if o.RetentionBytes > 0 && o.RetentionBytes < store {
		return fmt.Errorf("--retention-bytes %d is below --max-store-bytes %d: every segment would be deleted as soon as it is sealed",
			o.RetentionBytes, store)
	}
	return nil
}

// checkDedup refuses a negative window or bound.
func (o Options) checkDedup() error {
	switch {
	case o.DedupWindow < 0:
		return fmt.Errorf("--dedup-window must not be negative, got %v", o.DedupWindow)
	case o.DedupMaxIDs < 0:
		return fmt.Errorf("--dedup-max-ids must not be negative, got %d", o.DedupMaxIDs)
	}
	return nil
}

// checkAddr checks a host:port to listen on; anyPort admits port -1, the
// embedded nats-server's "any free port".
func checkAddr(addr string, anyPort bool) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if anyPort && port == "-1" {
		return nil
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		if anyPort {
			return fmt.Errorf("port %q is not a number from 0 to 65535 (or -1 for any free port)", port)
		}
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// optionFlags renames the Config fields that the segment and service
// packages name in their errors to the flags that set them.
var optionFlags = strings.NewReplacer(
	"MaxStoreBytes", "--max-store-bytes",
	"MaxIndexBytes", "--max-index-bytes",
	"sync interval", "--sync-interval",
	"MaxRecordBytes", "--max-record-bytes",
	"MaxReadBytes", "--max-read-bytes",
	"MaxBatchRecords", "--max-batch-records",
	"MaxPendingAppends", "--max-pending-appends",
	"MaxParkedReads", "--max-parked-reads",
	"MaxWait", "--max-wait",
	"MaxSnapshots", "--max-snapshots",
	"SnapshotAckTimeout", "--snapshot-ack-timeout",
)

// flagNames returns the message of a lower layer's config error err, less
// that layer's sentinel, with the fields it names turned into flags.
func flagNames(err, sentinel error) string {
	return optionFlags.Replace(strings.TrimPrefix(err.Error(), sentinel.Error()+": "))
}

// segmentConfig is the log's configuration.
func (o Options) segmentConfig() segment.Config {
	cfg := segment.Config{Logger: o.Logger.With("component", "segment")}
	cfg.Segment.MaxStoreBytes = o.MaxStoreBytes
	cfg.Segment.MaxIndexBytes = o.MaxIndexBytes
	cfg.Sync.Mode = o.SyncMode
	cfg.Sync.Interval = o.SyncInterval
	return cfg
}
