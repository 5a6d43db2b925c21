package segment

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/evlog/evlog/segment/internal/frame"
)

// SyncMode says when appended records are forced to stable storage.
type SyncMode int

const (
	// SyncAlways makes every append durable (fdatasync) before Append
	// returns. Concurrent appenders share one sync (group commit). A crash,
	// even a power loss, loses nothing that Append acknowledged.
	SyncAlways SyncMode = iota
	// SyncInterval syncs in the background every Config.Sync.Interval. A
	// crash of the process loses nothing (the data is in the kernel); a
	// power loss or kernel crash may lose what was appended in the last
	// interval.
	SyncInterval
	// SyncNever leaves syncing to the operating system. Closing the log
	// still syncs. A power loss may lose any amount of recent appends.
	SyncNever
)

// String returns the mode's name as ParseSyncMode accepts it.
func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNever:
		return "never"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// ParseSyncMode parses "always", "interval" or "never".
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "always":
		return SyncAlways, nil
	case "interval":
		return SyncInterval, nil
	case "never":
		return SyncNever, nil
	}
	return 0, fmt.Errorf("%w: unknown sync mode %q (want always, interval or never)", ErrConfig, s)
}

// Defaults used by DefaultConfig and for zero fields of a Config.
const (
	DefaultMaxStoreBytes = 64 << 20
	DefaultMaxIndexBytes = 1 << 20 * entryWidth // one million records
	DefaultSyncInterval  = time.Second
)

// Config configures a Log. The zero value of each field means its default.
type Config struct {
	Segment struct {
		// MaxStoreBytes is the size at which a segment's store is full and
		// the log rolls to a new segment. Default 64 MiB. A record must fit
		// in an empty store: its frame (8 bytes plus the encoded record)
		// may not exceed it.
		MaxStoreBytes uint64
		// MaxIndexBytes is the size of a segment's index, which holds 12
		// bytes a record. Default 12 MiB, one million records.
		MaxIndexBytes uint64
		// InitialOffset is the offset of the first record of a new, empty
		// log directory. Default 0. It is ignored when the directory
		// already holds segments.
		InitialOffset uint64
		// ID is the log id of a new, empty log directory, as a restore
		// keeps the id of the log it restores; zero means a random one.
		// It is ignored when the directory already holds a log.
		ID LogID
	}
	Sync struct {
		// Mode is when appends are synced. Default SyncAlways.
		Mode SyncMode
		// Interval is the period of SyncInterval. Default one second.
		Interval time.Duration
	}
	// Logger receives recovery reports and background sync failures.
	// Nil is silent.
	Logger *slog.Logger
	// OnDamage, when set, is told of every damaged record a read finds:
	// the *DamageError that Read or ReadRawBatch returns for it, or the
	// RawBatch.Damage of a batch it ended. It is called once per damaged
	// record for the lifetime of the Log, however often the record is
	// read, so that the caller may log and count each one without a
	// flood (a Log that has reported over a thousand others may forget
	// one and report it again). It runs on the goroutine of the read that
	// found the damage, before the read returns and with none of the Log's
	// locks held, so it delays that read: it must not block, and it must
	// not call back into the Log. It must not modify the error. Nil is
	// silent.
	OnDamage func(*DamageError)
	// OnRoll, when set, is called each time the active segment is sealed
	// and a new one started, so that a retention policy can be applied
	// (ApplyRetention) without waiting for a timer. It runs under the
	// Log's lock, inside the append that rolled: it must not block and
	// must not call back into the Log. Nil is silent.
	OnRoll func()
	// OnRemove, when set, hears of every TruncateFront and ApplyRetention
	// that made records unreadable, once it is done, with what went. It
	// runs on the caller's goroutine with none of the Log's locks held,
	// so it may call the Log; removals that race may be reported out of
	// order. Nil is silent.
	OnRemove func(Removal)
	// Now is the clock that timestamps records appended without one. Nil
	// is time.Now.
	Now func() time.Time
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	var c Config
	return c.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.Segment.MaxStoreBytes == 0 {
		c.Segment.MaxStoreBytes = DefaultMaxStoreBytes
	}
	if c.Segment.MaxIndexBytes == 0 {
		c.Segment.MaxIndexBytes = DefaultMaxIndexBytes
	}
	if c.Sync.Interval == 0 {
		c.Sync.Interval = DefaultSyncInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	if c.Segment.MaxIndexBytes < entryWidth {
		return fmt.Errorf("%w: MaxIndexBytes %d holds no entry (%d bytes each)", ErrConfig, c.Segment.MaxIndexBytes, entryWidth)
	}
	if c.Segment.MaxStoreBytes <= frame.HeaderSize {
		return fmt.Errorf("%w: MaxStoreBytes %d holds no record", ErrConfig, c.Segment.MaxStoreBytes)
	}
	if c.Segment.MaxStoreBytes > maxStoreBytes {
		return fmt.Errorf("%w: MaxStoreBytes %d exceeds %d", ErrConfig, c.Segment.MaxStoreBytes, uint64(maxStoreBytes))
	}
	if c.Sync.Mode < SyncAlways || c.Sync.Mode > SyncNever {
		return fmt.Errorf("%w: unknown sync mode %d", ErrConfig, c.Sync.Mode)
	}
	if c.Sync.Interval < 0 {
		return fmt.Errorf("%w: negative sync interval %v", ErrConfig, c.Sync.Interval)
	}
	return nil
}
