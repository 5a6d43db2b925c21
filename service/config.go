package service

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evlog/evlog/messages"
)

// replyOverhead bounds the bytes a read reply adds around its records: a
// fixmap header, the "records" key, an array32 header, the "next_offset"
// key and a uint64, 35 bytes, rounded up.
const replyOverhead = 64

// maxLimit bounds the count limits of a Config.
const maxLimit = 1 << 20

// Defaults used by DefaultConfig and for zero fields of a Config.
const (
	// DefaultName is the micro service name of the log under the default
	// prefix, and the start of every other log's name; see ServiceName.
	DefaultName = "evlog"
	// DefaultVersion is the micro service version; micro requires semver.
	DefaultVersion = "0.1.0"
	// DefaultMaxRecordBytes lets any accepted record be read back from a
	// default NATS server, whose messages carry at most 1 MiB.
	DefaultMaxRecordBytes = 1<<20 - replyOverhead
	// DefaultMaxReadBytes bounds the records of one read reply. It is
	// above the 1 MiB maximum payload of a default NATS server, which
	// therefore is the limit that applies unless the server allows more.
	DefaultMaxReadBytes = 8 << 20
	// DefaultMaxBatchRecords bounds the records of one append request.
	DefaultMaxBatchRecords = 10000
	// DefaultMaxPendingAppends bounds the append requests written but not
	// yet acknowledged.
	DefaultMaxPendingAppends = 4096
	// DefaultMaxParkedReads bounds the long-poll reads waiting at once.
	DefaultMaxParkedReads = 10000
	// DefaultMaxWait caps a read's wait_ms.
	DefaultMaxWait = 30 * time.Second
	// DefaultProbeTimeout is how long New waits for another instance to
	// answer prefix.info.
	DefaultProbeTimeout = time.Second
	// DefaultMaxSnapshots bounds the snapshots streaming at once.
	DefaultMaxSnapshots = 2
	// DefaultSnapshotAckTimeout is how long a snapshot waits for its
	// requester to acknowledge a chunk before giving it up.
	DefaultSnapshotAckTimeout = 10 * time.Second
)

// Config configures a Service. The zero value of each field means its
// default; New copies the Config and never writes to the caller's.
type Config struct {
	// Prefix is the subject prefix: the service answers Prefix.append and
	// so on. Default messages.DefaultPrefix ("evlog").
	Prefix string
	// Name is the micro service name, shown by `nats micro ls`. Default
	// ServiceName(Prefix): "evlog" for the default prefix, "evlog-" and
	// the prefix otherwise, so that the logs of one NATS deployment are
	// told apart.
	Name string
	// Version is the micro service version, in semver. Default "0.1.0".
	Version string
	// MaxRecordBytes bounds the msgpack encoding of one record, offset
	// and timestamp included; larger records get 413. Default 1 MiB less
	// 64 bytes. It is lowered to fit the connection's maximum payload, so
	// that every accepted record can be read back.
	MaxRecordBytes int
	// MaxReadBytes bounds the bytes of records in one read reply: a read's
	// max_bytes is lowered to it, and a record larger than it cannot be
	// read (413). It must be at least MaxRecordBytes, so that every
	// accepted record can be read back. Default 8 MiB; the connection's
	// maximum payload also applies.
	MaxReadBytes int
	// MaxBatchRecords bounds the records of one append request; more get
	// 413. Default 10000.
	MaxBatchRecords int
	// MaxPendingAppends bounds the append requests handed to the log and
	// not yet answered; more get 503. Default 4096.
	MaxPendingAppends int
	// MaxParkedReads bounds the long-poll reads waiting at once; more get
	// 503. Default 10000.
	MaxParkedReads int
	// MaxWait caps the wait_ms of a read. Default 30 s.
	MaxWait time.Duration
	// ReadQueueGroup, if set, puts the read endpoints (read and info) in
	// this queue group, so that several instances serving copies of one
	// log can share the reads. Default "": no queue group, like the
	// write endpoints, which never have one.
	ReadQueueGroup string
	// Leadership, if set, makes the service a node of a cluster whose
	// log only takes writes on the leader (see Leadership): no probe of
	// the prefix, the write endpoints only while Leader is true, and
	// Committed notifications from the leader only. It needs
	// ReadQueueGroup, so that the nodes share the reads. Default nil: a
	// single node.
	Leadership Leadership
	// ProbeTimeout is how long New waits for another instance to answer
	// Prefix.info before concluding that the prefix is free. Default 1 s.
	ProbeTimeout time.Duration
	// MaxSnapshots bounds the snapshots streaming at once, each from a
	// goroutine of its own; more get 503. Default 2.
	MaxSnapshots int
	// SnapshotAckTimeout is how long a snapshot waits for the requester's
	// acknowledgement of a chunk when its window is full. A snapshot
	// whose requester is silent that long is abandoned: its goroutine
	// ends and evlog_snapshots_abandoned_total counts it. Default 10 s.
	SnapshotAckTimeout time.Duration
	// Logger receives start-up, failure and slow-consumer reports. Nil is
	// silent.
	Logger *slog.Logger
	// Registerer, if set, gets the service's Prometheus metrics (see
	// metrics.go for the list) from New until Stop. Nil keeps them
	// unregistered; they still feed the micro stats.
	Registerer prometheus.Registerer
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	var c Config
	return c.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = messages.DefaultPrefix
	}
	if c.Name == "" {
		c.Name = ServiceName(c.Prefix)
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.MaxReadBytes == 0 {
		c.MaxReadBytes = DefaultMaxReadBytes
	}
	if c.MaxBatchRecords == 0 {
		c.MaxBatchRecords = DefaultMaxBatchRecords
	}
	if c.MaxPendingAppends == 0 {
		c.MaxPendingAppends = DefaultMaxPendingAppends
	}
	if c.MaxParkedReads == 0 {
		c.MaxParkedReads = DefaultMaxParkedReads
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	if c.MaxSnapshots == 0 {
		c.MaxSnapshots = DefaultMaxSnapshots
	}
	if c.SnapshotAckTimeout == 0 {
		c.SnapshotAckTimeout = DefaultSnapshotAckTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if err := messages.ValidatePrefix(c.Prefix); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	switch {
	case c.MaxRecordBytes < 0:
		return fmt.Errorf("%w: negative MaxRecordBytes %d", ErrConfig, c.MaxRecordBytes)
	case c.MaxReadBytes < c.MaxRecordBytes:
		return fmt.Errorf("%w: MaxReadBytes %d is below MaxRecordBytes %d: accepted records could not be read", ErrConfig, c.MaxReadBytes, c.MaxRecordBytes)
	// The upper bounds keep a typo from letting a client pin gigabytes.
	case c.MaxBatchRecords < 0 || c.MaxBatchRecords > maxLimit:
		return fmt.Errorf("%w: MaxBatchRecords %d is not from 0 to %d", ErrConfig, c.MaxBatchRecords, maxLimit)
	case c.MaxPendingAppends < 0 || c.MaxPendingAppends > maxLimit:
		return fmt.Errorf("%w: MaxPendingAppends %d is not from 0 to %d", ErrConfig, c.MaxPendingAppends, maxLimit)
	case c.MaxParkedReads < 0 || c.MaxParkedReads > maxLimit:
		return fmt.Errorf("%w: MaxParkedReads %d is not from 0 to %d", ErrConfig, c.MaxParkedReads, maxLimit)
	case c.MaxWait < 0:
		return fmt.Errorf("%w: negative MaxWait %v", ErrConfig, c.MaxWait)
	case c.MaxSnapshots < 0 || c.MaxSnapshots > maxLimit:
		return fmt.Errorf("%w: MaxSnapshots %d is not from 0 to %d", ErrConfig, c.MaxSnapshots, maxLimit)
	case c.SnapshotAckTimeout < 0:
		return fmt.Errorf("%w: negative SnapshotAckTimeout %v", ErrConfig, c.SnapshotAckTimeout)
	case c.ProbeTimeout < 0:
		return fmt.Errorf("%w: negative ProbeTimeout %v", ErrConfig, c.ProbeTimeout)
	case c.Leadership != nil && c.ReadQueueGroup == "":
		return fmt.Errorf("%w: a cluster node (Leadership set) needs a ReadQueueGroup: every node would answer every read", ErrConfig)
	case c.ReadQueueGroup != "" && !validQueueGroup(c.ReadQueueGroup):
		return fmt.Errorf("%w: ReadQueueGroup %q is not a valid queue group name", ErrConfig, c.ReadQueueGroup)
	}
	return nil
}

// ServiceName is the micro service name of the log under prefix:
// DefaultName for messages.DefaultPrefix, and DefaultName, a hyphen and
// the prefix for any other, with each character that micro does not allow
// in a name (anything but letters, digits, '_' and '-') replaced by '_'.
// "orders.eu" is thus "evlog-orders_eu". Two prefixes may share a name
// ("orders.eu" and "orders_eu"); the service's "prefix" metadata holds the
// exact prefix.
func ServiceName(prefix string) string {
	if prefix == messages.DefaultPrefix {
		return DefaultName
	}
	return DefaultName + "-" + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, prefix)
}

// validQueueGroup says whether name is a NATS queue group name: no spaces
// or wildcards, as micro requires.
func validQueueGroup(name string) bool {
	return !strings.ContainsAny(name, " \t\r\n*>")
}
