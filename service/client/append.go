package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
)

// AppendOption shapes one append: its id, its expected offset, and
// whether it is retried.
type AppendOption func(*appendOptions)

type appendOptions struct {
	id         string
	generateID bool
	expected   *uint64
	retry      *RetryPolicy
}

// WithID makes the append idempotent under id (1 to messages.MaxIDLen
// bytes): when the service has acknowledged an append with this id within
// its deduplication window, it appends nothing and answers with the
// original offsets and AppendReply.Duplicate set, whatever the records.
// Use one id per logical batch, such as a UUID, and the same for each
// retry of it.
func WithID(id string) AppendOption {
	return func(o *appendOptions) { o.id = id }
}

// WithGeneratedID gives the append a random id (128 bits, in hex), the
// same for every retry of this call, unless WithID gives one. It makes
// WithRetry safe for a caller with no id of its own; unlike an id of the
// caller's, it does not survive the caller's own crash.
func WithGeneratedID() AppendOption {
	return func(o *appendOptions) { o.generateID = true }
}

// WithExpectedOffset makes the append conditional: the service appends
// only if its next offset is then next, and otherwise answers with an
// error matching ErrConflict whose *Error holds the next offset. With an
// id, the retry of an acknowledged append is answered as a duplicate, not
// as a conflict.
func WithExpectedOffset(next uint64) AppendOption {
	return func(o *appendOptions) { o.expected = &next }
}

// WithRetry retries the append on the failures that may be transient (503
// ErrUnavailable, no responders, a timeout), as p says, but only when it
// carries an id (WithID or WithGeneratedID): without one a retry could
// append the records twice, so the first failure is returned. Each attempt
// gets the client's timeout; the context bounds them all.
func WithRetry(p RetryPolicy) AppendOption {
	return func(o *appendOptions) { o.retry = &p }
}

// RetryPolicy says how often and how soon an append is retried. The zero
// value of each field means its default.
type RetryPolicy struct {
	// Attempts is the most attempts, the first included. Default 5.
	Attempts int
	// Backoff is the wait before the first retry, doubled for each one
	// after it. Default 50 ms.
	Backoff time.Duration
	// MaxBackoff caps the wait between attempts. Default 2 s.
	MaxBackoff time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 5
	}
	if p.Backoff <= 0 {
		p.Backoff = 50 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 2 * time.Second
	}
	return p
}

// AppendWith appends records like Append, shaped by opts. A reply with
// Duplicate set means the records were appended before, by an append with
// the same id, at the offsets it gives.
func (c *Client) AppendWith(ctx context.Context, records []messages.Record, opts ...AppendOption) (messages.AppendReply, error) {
	var o appendOptions
	for _, opt := range opts {
		opt(&o)
	}
	req := messages.AppendRequest{Records: records, ID: o.id, ExpectedOffset: o.expected}
	if req.ID == "" && o.generateID {
		req.ID = newID()
	}
	if req.ID != "" {
		if err := messages.CheckID(req.ID); err != nil {
			return messages.AppendReply{}, fmt.Errorf("append: %w", err)
		}
	}
	body, err := messages.Marshal(&req)
	if err != nil {
		return messages.AppendReply{}, err
	}
	if o.retry == nil || req.ID == "" {
		var reply messages.AppendReply
		err := c.call(ctx, c.subjects.Append, body, 0, &reply)
		return reply, err
	}
	return c.retryAppend(ctx, body, o.retry.withDefaults())
}

// retryAppend sends an append with an id until it is answered, p's
// attempts are spent, or ctx is done.
func (c *Client) retryAppend(ctx context.Context, body []byte, p RetryPolicy) (messages.AppendReply, error) {
	wait := p.Backoff
	for attempt := 1; ; attempt++ {
		var reply messages.AppendReply
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		err := c.call(actx, c.subjects.Append, body, 0, &reply)
		cancel()
		if err == nil || attempt == p.Attempts || ctx.Err() != nil || !retryable(err) {
			return reply, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return reply, err
		case <-t.C:
		}
		wait = min(2*wait, p.MaxBackoff)
	}
}

// retryable says whether an append with an id that failed with err may be
// sent again: the service did not get it, could not take it, or its
// answer did not come in time.
func retryable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}

// newID returns 128 random bits in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails, by its documentation
	return hex.EncodeToString(b[:])
}
