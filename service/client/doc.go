// Package client is a typed Go client of the evlog service over a
// *nats.Conn the caller owns.
//
//	c := client.New(nc)
//	reply, err := c.Append(ctx, messages.Record{Value: []byte("hello")})
//	err = c.Follow(ctx, 0, func(r messages.Record) error {
//		fmt.Println(r.Offset, string(r.Value))
//		return nil
//	})
//
// Errors the service answers come back as *Error, carrying the code of the
// Nats-Service-Error-Code header; match them with errors.Is against
// ErrBadRequest, ErrOffsetOutOfRange, ErrTooLarge, ErrInternal and
// ErrUnavailable. When no service listens on the prefix the error wraps
// ErrUnavailable as well.
//
// A request the NATS server refuses for want of permission (to publish to
// the subject, or to subscribe to the reply inbox) fails at once with the
// server's message, matching nats.ErrPermissionViolation, instead of
// waiting out its timeout: New chains a handler in front of the
// connection's asynchronous error handler, where nats.go reports such
// violations.
//
// Every request honours its context. A context without a deadline gets the
// client's timeout (WithTimeout), extended by the wait of a long-poll read,
// so that a service that dies mid-request cannot hang the caller.
//
// The client depends only on nats.go and the wire types of package
// messages, as a client in another language would depend only on the
// protocol.
package client
