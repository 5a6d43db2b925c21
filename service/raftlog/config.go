package raftlog

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service/dedup"
)

// Defaults of Config, sized for a loaded 2-core machine: a heartbeat that
// a busy fsync or a GC pause does not miss, so leadership does not flap.
const (
	DefaultHeartbeatTimeout   = time.Second
	DefaultElectionTimeout    = time.Second
	DefaultLeaderLeaseTimeout = 500 * time.Millisecond
	DefaultCommitTimeout      = 50 * time.Millisecond
	// DefaultApplyTimeout bounds how long a proposal waits to enter
	// Raft's pipeline, and a barrier or a truncate to complete.
	DefaultApplyTimeout = 10 * time.Second
	// DefaultTrailingLogs is how many Raft entries a snapshot leaves
	// behind, so that a follower that was down briefly catches up from
	// the log rather than by an install. Each entry carries a group of
	// appends.
	DefaultTrailingLogs = 10240
	// DefaultSnapshotThreshold is how many new entries make a snapshot
	// worth taking; a snapshot costs a sync and a small file.
	DefaultSnapshotThreshold = 8192
	// DefaultSnapshotInterval is how often the threshold is checked.
	DefaultSnapshotInterval = 2 * time.Minute
	// DefaultMaxInFlight is how many entries the proposer keeps in Raft's
	// pipeline at once; appends queued meanwhile share the next entry.
	DefaultMaxInFlight = 64
	// DefaultMaxEntryBytes bounds the records of one entry, so that one
	// entry never holds up the replication stream for long.
	DefaultMaxEntryBytes = 4 << 20
)

var (
	// ErrConfig is returned by Open for a Config it cannot run with.
	ErrConfig = errors.New("invalid raftlog config")
	// ErrInsecureTransport is returned by Open, wrapped with ErrConfig,
	// for a Config that would serve Raft in the clear on an address
	// other hosts can reach: Raft's RPCs carry every record, and an
	// unauthenticated peer could vote and append.
	ErrInsecureTransport = errors.New("raft transport without TLS on a non-loopback address " +
		"(set TLSCertFile, TLSKeyFile and TLSCAFile, or AllowInsecureTransport)")
)

// Peer is a member of the cluster: its Raft server id and the address
// its Raft transport is reached at.
type Peer struct {
	ID      string
	Address string
}

// Config configures a Log. The zero value of each optional field means
// its default.
type Config struct {
	// NodeID is this node's Raft server id; required, and unique in the
	// cluster.
	NodeID string
	// Dir holds the node's state: Raft's log and snapshots under
	// Dir/raft, the segment log under Dir/log. Required.
	Dir string
	// Segment configures the segment log. Its sync mode is ignored: the
	// Log never syncs it per append (see the package doc).
	Segment segment.Config
	// Dedup sizes the table of append ids; it must be the same on every
	// node, since it takes part in every replica's decisions.
	Dedup dedup.Config
	// BindAddr is the address the Raft transport listens on
	// (host:port); required. Port 0 picks one (see Log.Addr).
	BindAddr string
	// AdvertiseAddr is the address other nodes reach this one at, when
	// it differs from BindAddr (a wildcard bind, NAT).
	AdvertiseAddr string
	// TLSCertFile, TLSKeyFile and TLSCAFile are PEM files: this node's
	// certificate (chain) and its private key, and the CA certificates
	// that sign every node's. Set all three or none. Set, the transport
	// is mutual TLS (TLS 1.2 at least): a node accepts a connection only
	// from a peer whose certificate the CA signed, and dials a peer only
	// if its certificate the CA signed names the address dialled (an IP
	// or DNS subject alternative name), so each node's certificate must
	// name the address the others reach it at and be valid for both
	// server and client authentication. Unset, Raft runs on plain TCP.
	TLSCertFile string
	TLSKeyFile  string
	TLSCAFile   string
	// AllowInsecureTransport permits plain TCP on a BindAddr that is not
	// loopback (127.0.0.0/8, ::1, localhost), which validation refuses
	// otherwise with ErrInsecureTransport. It does not turn TLS off when
	// the TLS files are set.
	AllowInsecureTransport bool
	// Peers is the initial cluster, this node included, the same list
	// on every node. It bootstraps Raft when the node has no Raft state
	// yet and is ignored otherwise. Empty: never bootstrap (the node
	// waits to be contacted by a cluster).
	Peers []Peer
	// Timeouts of Raft; see the Default constants.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	ApplyTimeout       time.Duration
	// Snapshot policy of Raft; see the Default constants.
	TrailingLogs      uint64
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// WALSegmentBytes is the size of raft-wal's segment files; default
	// raft-wal's, 64 MiB. Raft's compaction frees whole files only: the
	// entries of a partly compacted file stay readable, and a lagging
	// follower is sent them rather than a snapshot.
	WALSegmentBytes int
	// MaxInFlight and MaxEntryBytes shape the group commit.
	MaxInFlight   int
	MaxEntryBytes int
	// Logger receives the Log's and Raft's logs. Nil is silent.
	Logger *slog.Logger

	// streamLayer, set by tests only, listens on the bind address in
	// place of plain TCP, so that a test can cut the node off its peers.
	streamLayer func(bind string) (raft.StreamLayer, error)
	// noSnapshotOnTruncate, set by tests only, takes no snapshot after a
	// truncate (runSnapshots), as when a node stops before it could.
	noSnapshotOnTruncate bool
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	def(&c.ElectionTimeout, DefaultElectionTimeout)
	def(&c.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	def(&c.CommitTimeout, DefaultCommitTimeout)
	def(&c.ApplyTimeout, DefaultApplyTimeout)
	def(&c.SnapshotInterval, DefaultSnapshotInterval)
	if c.TrailingLogs == 0 {
		c.TrailingLogs = DefaultTrailingLogs
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxEntryBytes == 0 {
		c.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.NodeID == "":
		return fmt.Errorf("%w: no node id", ErrConfig)
	case c.Dir == "":
		return fmt.Errorf("%w: no directory", ErrConfig)
	case c.BindAddr == "":
		return fmt.Errorf("%w: no raft bind address", ErrConfig)
	case c.MaxInFlight < 0 || c.MaxEntryBytes < 0 || c.WALSegmentBytes < 0:
		return fmt.Errorf("%w: max in flight %d and max entry bytes %d must not be negative", ErrConfig, c.MaxInFlight, c.MaxEntryBytes)
	case c.LeaderLeaseTimeout > c.HeartbeatTimeout:
		return fmt.Errorf("%w: leader lease timeout %v above the heartbeat timeout %v", ErrConfig, c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	host, _, err := net.SplitHostPort(c.BindAddr)
	if err != nil {
		return fmt.Errorf("%w: raft bind address: %w", ErrConfig, err)
	}
	if err := c.validateTransport(host); err != nil {
		return err
	}
	return c.validatePeers()
}

// validateTransport checks that the TLS files come together, and that
// Raft is served in the clear only where no other host can reach it,
// unless AllowInsecureTransport says so.
func (c Config) validateTransport(bindHost string) error {
	files := map[string]string{"TLSCertFile": c.TLSCertFile, "TLSKeyFile": c.TLSKeyFile, "TLSCAFile": c.TLSCAFile}
	var missing []string
	for _, name := range []string{"TLSCertFile", "TLSKeyFile", "TLSCAFile"} {
		if files[name] == "" {
			missing = append(missing, name)
		}
	}
	switch {
	case len(missing) == 0:
		return nil
	case len(missing) < len(files):
		return fmt.Errorf("%w: TLSCertFile, TLSKeyFile and TLSCAFile go together: %s not set", ErrConfig, strings.Join(missing, ", "))
	case !c.AllowInsecureTransport && !isLoopback(bindHost):
		return fmt.Errorf("%w: %w: raft bind address %q", ErrConfig, ErrInsecureTransport, c.BindAddr)
	}
	return nil
}

// isLoopback reports whether host, the host of a bind address, only
// listens for this machine. An empty host or a wildcard listens on
// every interface; any other name may resolve to anything.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validatePeers checks the bootstrap peer list, if any.
func (c Config) validatePeers() error {
	if len(c.Peers) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(c.Peers))
	for _, p := range c.Peers {
		if p.ID == "" || p.Address == "" {
			return fmt.Errorf("%w: peer %q=%q: id and address are required", ErrConfig, p.ID, p.Address)
		}
		if seen[p.ID] {
			return fmt.Errorf("%w: peer id %q listed twice", ErrConfig, p.ID)
		}
		seen[p.ID] = true
	}
	if !seen[c.NodeID] {
		return fmt.Errorf("%w: node id %q is not among the peers", ErrConfig, c.NodeID)
	}
	return nil
}

// ParsePeers parses a peer list in the form ID=HOST:PORT,ID=HOST:PORT.
func ParsePeers(s string) ([]Peer, error) {
	var peers []Peer
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, addr, ok := strings.Cut(item, "=")
		if !ok || id == "" {
			return nil, fmt.Errorf("%w: peer %q is not ID=HOST:PORT", ErrConfig, item)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%w: peer %q: %w", ErrConfig, item, err)
		}
		peers = append(peers, Peer{ID: id, Address: addr})
	}
	return peers, nil
}
