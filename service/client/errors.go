package client

import (
	"fmt"

	"github.com/evlog/evlog/messages"
)

// Error is an error the service answered, with its wire code and
// description.
type Error struct {
	// Code is one of the messages.Code* values, or another number a newer
	// service may send.
	Code int
	// Description is the service's human-readable detail.
	Description string
	// NextOffset is the log's next offset, for an ErrConflict: the
	// offset an append expecting it would have got.
	NextOffset uint64
}

// Error returns the code and the description, prefixed with "evlog" so
// that it reads well in a chain of wrapped errors.
func (e *Error) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("evlog: %d %s", e.Code, messages.CodeText(e.Code))
	}
	return fmt.Sprintf("evlog: %d %s", e.Code, e.Description)
}

// Is matches any *Error with the same code, so that errors.Is(err,
// ErrOffsetOutOfRange) holds whatever the description.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels to match with errors.Is, one per wire code.
var (
	// ErrBadRequest: the request was malformed or broke a rule, such as
	// an append without records. Retrying it cannot succeed.
	ErrBadRequest = &Error{Code: messages.CodeBadRequest}
	// ErrOffsetOutOfRange: the offset is below the lowest or beyond the
	// next offset of the log.
	ErrOffsetOutOfRange = &Error{Code: messages.CodeOffsetOutOfRange}
	// ErrConflict: an append's expected offset (WithExpectedOffset) was
	// not the log's next offset, which the *Error's NextOffset holds.
	// Nothing was appended.
	ErrConflict = &Error{Code: messages.CodeConflict}
	// ErrTooLarge: the request or a record exceeds a limit, or a record
	// cannot fit in a reply.
	ErrTooLarge = &Error{Code: messages.CodeTooLarge}
	// ErrInternal: the service failed; an append's outcome is unknown.
	ErrInternal = &Error{Code: messages.CodeInternal}
	// ErrUnavailable: the service is shutting down, overloaded, or not
	// there at all; the request may be retried.
	ErrUnavailable = &Error{Code: messages.CodeUnavailable}
	// ErrNotCluster: a cluster operation reached a single node, which has
	// no members to change.
	ErrNotCluster = &Error{Code: messages.CodeNotCluster}
	// ErrUnknownMember: a cluster operation named a node that is not a
	// member. It has the code of ErrOffsetOutOfRange, 404, and matches
	// it: which one it is follows from the call.
	ErrUnknownMember = &Error{Code: messages.CodeOffsetOutOfRange}
)
