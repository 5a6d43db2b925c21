package messages

import "fmt"

// An append request may carry an id, which makes it idempotent, and an
// expected offset, which makes it conditional; see AppendRequest. The
// service keeps the id with the records, as headers of the batch's first
// record, so that it is rebuilt from the log after a restart and readers
// see it too.
const (
	// MaxIDLen is the longest append id, in bytes. An id is at least one
	// byte long.
	MaxIDLen = 128
	// IDHeader is the NATS header that carries an append's id as the
	// request's "id" field does, so that a plain NATS request with
	// JetStream's header is deduplicated too. It is also the record
	// header under which the service stores the id, on the first record
	// of the batch; a client may not set it on a record itself.
	IDHeader = "Nats-Msg-Id"
	// BatchRecordsHeader is the record header, beside IDHeader on the
	// first record of a batch of more than one record, that holds the
	// number of records in the batch, in decimal, so that the offsets of
	// a duplicate can be answered after a restart. A client may not set
	// it on a record itself.
	BatchRecordsHeader = "Evlog-Batch-Records"
	// NextOffsetHeader is the header of a 409 reply that holds the log's
	// next offset, in decimal.
	NextOffsetHeader = "Evlog-Next-Offset"
)

// CheckID refuses an append id that is empty or longer than MaxIDLen
// bytes.
func CheckID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("id is empty; leave it out for an append without one")
	case len(id) > MaxIDLen:
		return fmt.Errorf("id is %d bytes, more than %d", len(id), MaxIDLen)
	}
	return nil
}
