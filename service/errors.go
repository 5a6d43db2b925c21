package service

import (
	"errors"
	"fmt"

	"github.com/evlog/evlog/messages"
)

// Errors returned by New, Run and Err, and those a Log wraps so that the
// service knows which wire code answers them. Match them with errors.Is:
// the returned errors wrap them with detail.
var (
	// ErrConfig is returned by New and Run for an invalid Config or
	// Options.
	ErrConfig = errors.New("invalid config")
	// ErrPrefixInUse is returned by New when something already answers
	// the prefix's info subject, most likely another evlog instance that
	// serves another log under the same subjects.
	ErrPrefixInUse = errors.New("subject prefix already served")
	// ErrNoHeaders is returned by New when the NATS server does not
	// support headers, which carry the service's error codes.
	ErrNoHeaders = errors.New("nats server does not support headers")

	// ErrBadRequest is the error of a request that does not decode or
	// breaks a rule of the protocol; it is answered with 400.
	ErrBadRequest = errors.New(messages.CodeText(messages.CodeBadRequest))
	// ErrOffsetOutOfRange is the error of an offset outside the log; it
	// is answered with 404.
	ErrOffsetOutOfRange = errors.New(messages.CodeText(messages.CodeOffsetOutOfRange))
	// ErrConflict is the error of an append whose expected offset is not
	// the log's next offset; a Log returns it as a *ConflictError. It is
	// answered with 409.
	ErrConflict = errors.New(messages.CodeText(messages.CodeConflict))
	// ErrTooLarge is the error of a request, a record or a record to be
	// read beyond a size limit; it is answered with 413.
	ErrTooLarge = errors.New(messages.CodeText(messages.CodeTooLarge))
	// ErrUnavailable is the error of a request that cannot be served now
	// and may be retried: the service is stopping, too many requests
	// wait, or the log is closed. It is answered with 503.
	ErrUnavailable = errors.New(messages.CodeText(messages.CodeUnavailable))
	// ErrLogFailed is returned by Err, and wrapped by every refused
	// append, once the log has failed: after a failed sync or a write
	// that left part of an append in the log, nothing more may be
	// acknowledged. Appends are then answered with 500.
	ErrLogFailed = errors.New("log failed")
	// ErrSyncFailed is wrapped, with ErrLogFailed, by Err after the log
	// failed to sync: the kernel may have dropped the pages it could not
	// write.
	ErrSyncFailed = errors.New("log sync failed")
	// ErrUnknownMember is the error of a cluster operation that names a
	// node that is not a member of the cluster; it is answered with 404.
	ErrUnknownMember = errors.New("unknown member")
	// ErrNotCluster is the error of a cluster operation on a single
	// node; it is answered with 501.
	ErrNotCluster = errors.New(messages.CodeText(messages.CodeNotCluster))
)

// ConflictError refuses an append whose ExpectedOffset is not the log's
// next offset, which it gives. It matches ErrConflict with errors.Is.
type ConflictError struct {
	Expected, NextOffset uint64
}

// Error says both offsets; the reply's description carries it.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: expected offset %d, next offset is %d", ErrConflict, e.Expected, e.NextOffset)
}

// Unwrap returns ErrConflict.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// codeOf maps an error to the wire code that answers it. This is the one
// place the mapping is written; an error wrapping no sentinel of a code is
// an internal error, the outcome of the request unknown.
func codeOf(err error) int {
	switch {
	case errors.Is(err, ErrLogFailed):
		// Whatever else went wrong, the log refuses appends for good.
		return messages.CodeInternal
	case errors.Is(err, ErrBadRequest):
		return messages.CodeBadRequest
	case errors.Is(err, ErrOffsetOutOfRange), errors.Is(err, ErrUnknownMember):
		return messages.CodeOffsetOutOfRange
	case errors.Is(err, ErrConflict):
		return messages.CodeConflict
	case errors.Is(err, ErrTooLarge):
		return messages.CodeTooLarge
	case errors.Is(err, ErrUnavailable):
		return messages.CodeUnavailable
	case errors.Is(err, ErrNotCluster):
		return messages.CodeNotCluster
	}
	return messages.CodeInternal
}

// codeText is the text that the description of err, answered with code,
// starts with: the code's own, but for an unknown member, whose 404 is
// not about an offset.
func codeText(code int, err error) string {
	if errors.Is(err, ErrUnknownMember) {
		return ErrUnknownMember.Error()
	}
	return messages.CodeText(code)
}
