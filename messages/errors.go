package messages

// Error codes the service sends in the Nats-Service-Error-Code header, with
// a human-readable description in Nats-Service-Error. They follow HTTP's
// meanings and are never renumbered.
const (
	// CodeBadRequest: the body is not valid msgpack, has a field of the
	// wrong type, or breaks a rule such as an append without records.
	CodeBadRequest = 400
	// CodeOffsetOutOfRange: the offset is below the lowest or beyond the
	// next offset of the log. A cluster operation naming a member that is
	// not in the cluster gets the same number, with the description
	// "unknown member".
	CodeOffsetOutOfRange = 404
	// CodeConflict: an append's expected offset is not the log's next
	// offset, which the reply gives in the Evlog-Next-Offset header
	// (NextOffsetHeader) and in the description. Nothing was appended.
	CodeConflict = 409
	// CodeTooLarge: the request, a record, or a single record to be read
	// exceeds a size limit.
	CodeTooLarge = 413
	// CodeInternal: the service failed, for example on an I/O error or a
	// record whose checksum does not match.
	CodeInternal = 500
	// CodeUnavailable: the service is shutting down or cannot take more
	// work right now; the request may be retried.
	CodeUnavailable = 503
	// CodeNotCluster: a cluster operation (add, remove, transfer) sent
	// to a single node, which has no members to change.
	CodeNotCluster = 501
)

// CodeText returns the short description of a code, or "" for an unknown
// code.
func CodeText(code int) string {
	switch code {
	case CodeBadRequest:
		return "bad request"
	case CodeOffsetOutOfRange:
		return "offset out of range"
	case CodeConflict:
		return "conflict"
	case CodeTooLarge:
		return "too large"
	case CodeInternal:
		return "internal error"
	case CodeUnavailable:
		return "unavailable"
	case CodeNotCluster:
		return "not a cluster"
	}
	return ""
}
