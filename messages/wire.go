package messages

import "github.com/vmihailenco/msgpack/v5"

// The request and reply bodies of the NATS protocol. Each is a msgpack map
// with the keys in its struct tags; optional keys may be left out by a
// client, and keys a reader does not know are ignored. A request may also
// come as JSON (see RequestFormat and UnmarshalJSON), its reply then
// converted by MsgpackToJSON. The json tags give the same names to the
// command line's JSON output.

// AppendRequest asks the service to append records. Their offsets and
// timestamps are assigned by the service; values sent for them are ignored.
//
// ID, when set (1 to MaxIDLen bytes, any bytes the client chooses, such
// as a UUID per logical batch), makes the append idempotent: a request
// with the id of one acknowledged within the service's deduplication
// window appends nothing and is answered with the original offsets and
// Duplicate set, whatever its records. ExpectedOffset, when set, makes the
// append conditional: it appends only if the log's next offset is then
// exactly that, and is otherwise refused with CodeConflict. A duplicate is
// answered as one before the offset is checked.
type AppendRequest struct {
	Records        []Record `msgpack:"records" json:"records"`
	ID             string   `msgpack:"id,omitempty" json:"id,omitempty"`
	ExpectedOffset *uint64  `msgpack:"expected_offset,omitempty" json:"expected_offset,omitempty"`

	// maxRecords, when positive, makes decoding refuse more records
	// before allocating them; see UnmarshalAppendRequest.
	maxRecords int
}

// UnmarshalAppendRequest decodes an append request body like Unmarshal, but
// refuses a body declaring more than maxRecords records with an error
// wrapping ErrTooManyRecords before allocating anything for them. Without
// the limit a body of tiny records can make the decoder allocate dozens of
// times the body's size, since a Record is far larger in memory than the
// one byte an empty map takes on the wire.
//
// Like UnmarshalRecord it skips the Validate pass, since AppendRequest's
// decoder bounds every declared length itself: it is the service's hottest
// decode. For the same reason the records' values and keys may be
// sub-slices of data rather than copies: data must not change while the
// request is in use. (A NATS message's data is its own, never reused.)
func UnmarshalAppendRequest(data []byte, maxRecords int) (AppendRequest, error) {
	if ar, ok := decodeAppendFast(data, maxRecords); ok {
		return ar, nil
	}
	return decodeAppendLibrary(data, maxRecords)
}

// decodeAppendLibrary decodes an append request through the msgpack
// library and AppendRequest's decoder: every body the fast path gives up
// on, and the errors.
func decodeAppendLibrary(data []byte, maxRecords int) (AppendRequest, error) {
	ar := AppendRequest{maxRecords: maxRecords}
	err := decodeDirect(data, "append request", func(d *msgpack.Decoder, _ *[32]byte) error {
		return ar.DecodeMsgpack(d)
	})
	ar.maxRecords = 0
	return ar, err
}

// AppendReply answers an AppendRequest once its records are durable under
// the service's sync mode. The records got the contiguous offsets
// FirstOffset to LastOffset, in request order. Duplicate says the request
// repeated the id of an append already acknowledged, whose offsets these
// are: nothing was appended. It is left out of the encoding when false.
type AppendReply struct {
	FirstOffset uint64 `msgpack:"first_offset" json:"first_offset"`
	LastOffset  uint64 `msgpack:"last_offset" json:"last_offset"`
	Duplicate   bool   `msgpack:"duplicate,omitempty" json:"duplicate,omitempty"`
}

// ReadRequest asks for records from Offset on, or, when Timestamp is set,
// from the first record whose timestamp (unix nanoseconds) is at or after
// *Timestamp. One of offset and timestamp is required, and only one: a
// body with both or neither is refused. A timestamp before the log's first
// record starts at its lowest offset; one after its last record reads at
// the end, returning no records and the next offset. Zero MaxRecords
// means 1 and zero MaxBytes means 1 MiB: they are left out of the encoding
// then, and a body that sends 0 for either is refused, since only leaving
// the key out asks for the default. The reply is also capped by the
// connection's maximum payload. With WaitMS, a read at the next offset to
// be written waits up to that many milliseconds for a record to arrive;
// the client's own timeout must be longer.
type ReadRequest struct {
	Offset     uint64 `msgpack:"offset" json:"offset"`
	MaxRecords uint64 `msgpack:"max_records,omitempty" json:"max_records,omitempty"`
	MaxBytes   uint64 `msgpack:"max_bytes,omitempty" json:"max_bytes,omitempty"`
	WaitMS     uint64 `msgpack:"wait_ms,omitempty" json:"wait_ms,omitempty"`
	// Timestamp, when set, replaces Offset in the encoding.
	Timestamp *int64 `msgpack:"timestamp,omitempty" json:"timestamp,omitempty"`
}

// ReadReply holds records in offset order and the offset to read next.
type ReadReply struct {
	Records    []Record `msgpack:"records" json:"records"`
	NextOffset uint64   `msgpack:"next_offset" json:"next_offset"`
}

// TruncateRequest asks the service to delete records below Lowest, which
// is required: a body without it is refused rather than read as 0. Whole
// segments are deleted, so records below Lowest may remain readable until
// their segment is entirely below it.
type TruncateRequest struct {
	Lowest uint64 `msgpack:"lowest" json:"lowest"`
}

// TruncateReply gives the lowest offset still readable after a truncation.
type TruncateReply struct {
	LowestOffset uint64 `msgpack:"lowest_offset" json:"lowest_offset"`
}

// InfoReply describes the log. The request body is empty.
type InfoReply struct {
	LowestOffset uint64 `msgpack:"lowest_offset" json:"lowest_offset"`
	NextOffset   uint64 `msgpack:"next_offset" json:"next_offset"`
	Segments     uint64 `msgpack:"segments" json:"segments"`
	Bytes        uint64 `msgpack:"bytes" json:"bytes"`
}

// Committed is published on the committed subject after records
// FirstOffset to LastOffset became durable. Notifications are published in
// offset order.
type Committed struct {
	FirstOffset uint64 `msgpack:"first_offset" json:"first_offset"`
	LastOffset  uint64 `msgpack:"last_offset" json:"last_offset"`
}
