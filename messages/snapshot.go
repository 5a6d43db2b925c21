package messages

import (
	"encoding/json"

	"github.com/vmihailenco/msgpack/v5"
)

// SnapshotRequest asks the service to stream a snapshot of the records
// from From, or from the lowest offset when From is below it (0, the
// value of a body without the key, always is), up to the committed offset
// at the time of the request. The body may also be empty, for the whole
// log. The stream comes in chunks on the request's reply subject; see the
// Snapshot* headers.
type SnapshotRequest struct {
	From uint64 `msgpack:"from,omitempty" json:"from,omitempty"`
}

// The headers of the chunks of a snapshot stream. The chunks' bodies,
// concatenated in sequence order, are the snapshot stream of package
// segment/snapshot, byte for byte. Each chunk is published with a reply
// subject: the requester acknowledges a chunk by publishing, to that
// subject, the chunk's SnapshotSeqHeader value as its body (decimal
// ASCII). An acknowledgement covers every chunk up to the one it names.
// An empty body instead abandons the snapshot, and the service stops
// sending at once.
const (
	// SnapshotSeqHeader numbers the chunks of one snapshot from 0, in
	// decimal, on every chunk, the error chunk included.
	SnapshotSeqHeader = "Evlog-Snapshot-Seq"
	// SnapshotFirstHeader and SnapshotNextHeader give, on chunk 0, the
	// range of offsets [first, next) the snapshot holds, in decimal.
	SnapshotFirstHeader = "Evlog-Snapshot-First"
	SnapshotNextHeader  = "Evlog-Snapshot-Next"
	// SnapshotEndHeader marks the last chunk of a complete stream; its
	// value is the length in bytes of the whole stream, in decimal.
	SnapshotEndHeader = "Evlog-Snapshot-End"
)

var (
	_ msgpack.CustomEncoder = SnapshotRequest{}
	_ msgpack.CustomDecoder = (*SnapshotRequest)(nil)
)

// EncodeMsgpack encodes r without reflection, leaving out a zero From.
func (r SnapshotRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeUints(e, uintField{key: "from", val: r.From, omitEmpty: true})
}

// DecodeMsgpack decodes r without reflection.
func (r *SnapshotRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*r = SnapshotRequest{}
	return decodeMap(d, "snapshot request", func(key []byte) (err error) {
		switch string(key) {
		case "from":
			r.From, _, err = decodeOptUint(d, "from")
		default:
			err = skipUnknown(d)
		}
		return err
	})
}

func (r *SnapshotRequest) decodeJSON(d *jsonDecoder, first json.Token) error {
	*r = SnapshotRequest{}
	return d.object(first, "snapshot request", func(key string) (err error) {
		switch key {
		case "from":
			r.From, _, err = d.uint()
		default:
			err = d.skipNext()
		}
		return err
	})
}
