package load

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
)

// Mode is what a run's requests do.
type Mode string

// The modes of a run.
const (
	// Append appends records.
	Append Mode = "append"
	// Read cycles over the records the log held when the run started.
	Read Mode = "read"
	// Mixed has each client alternate appends and reads of the newest
	// records, starting with an append.
	Mixed Mode = "mixed"
)

// The upper bounds of Config's sizes. They keep a typo from allocating
// gigabytes up front.
const (
	MaxClients  = 1 << 12
	MaxInflight = 1 << 16
	MaxBatch    = 1 << 20
	MaxSize     = 64 << 20
)

// ErrNothingToRead is returned by New for a run in Read mode of an empty
// log.
var ErrNothingToRead = errors.New("load: the log is empty, nothing to read")

// Config is what a run does. Every field but Records and the log's offsets
// must be set.
type Config struct {
	// Mode is the kind of requests.
	Mode Mode
	// Clients is the number of connections, each with its own window of
	// requests, from 1 to MaxClients.
	Clients int
	// Inflight is the number of requests each client keeps unanswered,
	// from 1 to MaxInflight.
	Inflight int
	// Batch is the records of an append and the most records of a read,
	// from 1 to MaxBatch.
	Batch int
	// Size is the bytes of each appended record's value, from 1 to
	// MaxSize.
	Size int
	// Duration is how long to send requests, when Records is 0.
	Duration time.Duration
	// Records, if positive, ends the run once requests for this many
	// records have been sent instead of after Duration. Every request asks
	// for a whole Batch, so the last may go past it.
	Records int64
	// Timeout is how long a request may go unanswered before it counts as
	// an error.
	Timeout time.Duration
	// Idempotent gives every append a fresh id, to measure what
	// deduplication costs the service.
	Idempotent bool

	// Subjects are the service's subjects.
	Subjects messages.Subjects
	// LowestOffset and NextOffset are the log's offsets when the run
	// starts, as client.Info reports them: Read mode cycles over
	// [LowestOffset, NextOffset), Mixed mode reads from the last record
	// until its first append is acknowledged.
	LowestOffset, NextOffset uint64

	// Dial opens the connection of client i, from 0 to Clients-1. The run
	// owns the connection and closes it.
	Dial func(i int) (*nats.Conn, error)
}

// Validate reports the first field of the load's shape (Mode to Timeout)
// that is out of its range. Its error begins with the field's name in
// lower case ("clients must be from 1 to ...") so that a command line can
// put its flag's dashes in front. New checks the rest.
func (c Config) Validate() error {
	switch c.Mode {
	case Append, Read, Mixed:
	default:
		return fmt.Errorf("mode: want append, read or mixed, got %q", c.Mode)
	}
	for _, f := range []struct {
		name string
		v    int
		max  int
	}{{"clients", c.Clients, MaxClients}, {"inflight", c.Inflight, MaxInflight}, {"batch", c.Batch, MaxBatch}, {"size", c.Size, MaxSize}} {
		if f.v < 1 || f.v > f.max {
			return fmt.Errorf("%s must be from 1 to %d, got %d", f.name, f.max, f.v)
		}
	}
	switch {
	case c.Records < 0:
		return fmt.Errorf("records must not be negative, got %d", c.Records)
	case c.Records == 0 && c.Duration <= 0:
		return fmt.Errorf("duration must be positive, got %v", c.Duration)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout must be positive, got %v", c.Timeout)
	}
	return nil
}

// checkTarget reports what Validate leaves out: where the load goes.
func (c Config) checkTarget() error {
	switch {
	case c.NextOffset < c.LowestOffset:
		return fmt.Errorf("load: next offset %d is below the lowest offset %d", c.NextOffset, c.LowestOffset)
	case c.Subjects.Append == "" || c.Subjects.Read == "":
		return errors.New("load: Config.Subjects not set")
	case c.Dial == nil:
		return errors.New("load: Config.Dial not set")
	case c.Mode == Read && c.NextOffset == c.LowestOffset:
		return ErrNothingToRead
	}
	return nil
}
