package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
)

// The headers of a nats.go/micro error reply, spelled out so that this
// package needs nothing of the server side.
const (
	errorCodeHeader = "Nats-Service-Error-Code"
	errorHeader     = "Nats-Service-Error"
)

// DefaultTimeout bounds a request whose context has no deadline.
const DefaultTimeout = 5 * time.Second

// Client sends requests to one evlog service. It is safe for concurrent
// use; it does not own the connection.
type Client struct {
	nc       *nats.Conn
	subjects messages.Subjects
	timeout  time.Duration
	inflight *inflight
}

// Option configures a Client.
type Option func(*Client)

// WithPrefix talks to the service on another subject prefix than "evlog".
func WithPrefix(prefix string) Option {
	return func(c *Client) { c.subjects = messages.NewSubjects(prefix) }
}

// WithTimeout sets how long a request whose context has no deadline may
// take, not counting a read's wait. Default DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// New returns a client of the service on nc.
//
// New wraps nc's asynchronous error handler, where nats.go reports the
// server's permissions violations, so that a request the server refuses
// fails at once with the server's message (matching
// nats.ErrPermissionViolation) rather than after its timeout. The handler
// nc had is still called with every error. Setting another handler on nc
// after New loses this, and requests then time out as they would without it.
func New(nc *nats.Conn, opts ...Option) *Client {
	c := &Client{
		nc:       nc,
		subjects: messages.NewSubjects(messages.DefaultPrefix),
		timeout:  DefaultTimeout,
		inflight: newInflight(nc.Opts.InboxPrefix),
	}
	for _, o := range opts {
		o(c)
	}
	c.inflight.watch(nc)
	return c
}

// Subjects returns the subjects the client sends to.
func (c *Client) Subjects() messages.Subjects { return c.subjects }

// Append appends records and returns their offsets once the service has
// made them durable. The offsets are contiguous, in the order given. For
// an id, an expected offset or retries, use AppendWith.
func (c *Client) Append(ctx context.Context, records ...messages.Record) (messages.AppendReply, error) {
	return c.AppendWith(ctx, records)
}

// ReadOptions shape a read. Zero fields take the service's defaults.
type ReadOptions struct {
	// MaxRecords bounds the records returned. The service's default is 1.
	MaxRecords uint64
	// MaxBytes bounds the bytes of records returned, except that the first
	// record is always returned. The service's default is 1 MiB.
	MaxBytes uint64
	// Wait is how long a read at the next offset to be written waits for
	// records; the service caps it (30 s by default).
	Wait time.Duration
}

// Read returns records from offset on. At the next offset to be written it
// returns no records, after waiting up to opts.Wait for some.
func (c *Client) Read(ctx context.Context, offset uint64, opts ReadOptions) (messages.ReadReply, error) {
	return c.read(ctx, messages.ReadRequest{Offset: offset}, opts)
}

// read sends req, a read from an offset or a time, with the limits and
// wait of opts.
func (c *Client) read(ctx context.Context, req messages.ReadRequest, opts ReadOptions) (messages.ReadReply, error) {
	var reply messages.ReadReply
	req.MaxRecords, req.MaxBytes = opts.MaxRecords, opts.MaxBytes
	if opts.Wait > 0 {
		req.WaitMS = uint64((opts.Wait + time.Millisecond - 1) / time.Millisecond)
	}
	body, err := messages.Marshal(&req)
	if err != nil {
		return reply, err
	}
	err = c.call(ctx, c.subjects.Read, body, opts.Wait, &reply)
	return reply, err
}

// Truncate deletes the records below lowest: they read as
// ErrOffsetOutOfRange at once. It returns the new lowest offset, which is
// lowest, or the log's lowest offset if that was higher already.
func (c *Client) Truncate(ctx context.Context, lowest uint64) (uint64, error) {
	var reply messages.TruncateReply
	body, err := messages.Marshal(&messages.TruncateRequest{Lowest: lowest})
	if err != nil {
		return 0, err
	}
	err = c.call(ctx, c.subjects.Truncate, body, 0, &reply)
	return reply.LowestOffset, err
}

// Info describes the log.
func (c *Client) Info(ctx context.Context) (messages.InfoReply, error) {
	var reply messages.InfoReply
	err := c.call(ctx, c.subjects.Info, nil, 0, &reply)
	return reply, err
}

// call sends body to subject and decodes the reply into v. wait is how
// long the service may legitimately hold the request.
func (c *Client) call(ctx context.Context, subject string, body []byte, wait time.Duration, v any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout+wait)
		defer cancel()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer c.inflight.add(subject, cancel)()
	msg, err := c.nc.RequestWithContext(ctx, subject, body)
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, nats.ErrPermissionViolation) {
			return fmt.Errorf("request %s: %w", subject, cause)
		}
		if errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("%w: no service answers %s: %w", ErrUnavailable, subject, err)
		}
		return fmt.Errorf("request %s: %w", subject, err)
	}
	if err := replyError(msg); err != nil {
		return err
	}
	if err := messages.Unmarshal(msg.Data, v); err != nil {
		return fmt.Errorf("decode reply from %s: %w", subject, err)
	}
	return nil
}

// replyError returns the service's error in msg's headers, if any.
func replyError(msg *nats.Msg) error {
	code := msg.Header.Get(errorCodeHeader)
	if code == "" {
		return nil
	}
	desc := msg.Header.Get(errorHeader)
	n, err := strconv.Atoi(code)
	if err != nil {
		return &Error{Code: messages.CodeInternal, Description: fmt.Sprintf("unreadable error code %q: %s", code, desc)}
	}
	e := &Error{Code: n, Description: desc}
	if v := msg.Header.Get(messages.NextOffsetHeader); v != "" {
		e.NextOffset, _ = strconv.ParseUint(v, 10, 64) // the description says it too
	}
	return e
}
