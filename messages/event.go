package messages

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// The event types, the values of Event.Type.
const (
	// EventRetention: the retention policy deleted the records
	// FirstOffset to LastOffset, whole sealed segments of Bytes bytes;
	// Reason names the limits, such as "age 24h0m0s" or
	// "bytes 1073741824".
	EventRetention = "retention"
	// EventTruncate: a truncate request made the records FirstOffset to
	// LastOffset unreadable; Bytes is the size of the segments it deleted,
	// 0 when the records' segment still holds newer ones.
	EventTruncate = "truncate"
	// EventRecovery: opening the log repaired the segment whose records
	// are FirstOffset to LastOffset; Bytes is what it cut or found
	// damaged, and Reason says what it did.
	EventRecovery = "recovery"
	// EventSnapshot: a snapshot of the records FirstOffset to LastOffset,
	// Bytes long, was taken.
	EventSnapshot = "snapshot"
)

// Event is published on the events subject when something happens to the
// log that its readers may want to know of: records removed (by retention
// or a truncation), a recovery at start, a snapshot. Time is when it
// happened, in Unix nanoseconds. Events are for monitoring: they are
// published at most once, and a subscriber that was not listening misses
// them. Keys a reader does not know are ignored, so later versions may add
// fields and types.
type Event struct {
	Type        string `msgpack:"type" json:"type"`
	Time        int64  `msgpack:"time" json:"time"`
	FirstOffset uint64 `msgpack:"first_offset" json:"first_offset"`
	LastOffset  uint64 `msgpack:"last_offset" json:"last_offset"`
	Bytes       uint64 `msgpack:"bytes" json:"bytes"`
	Reason      string `msgpack:"reason,omitempty" json:"reason,omitempty"`
}

var (
	_ msgpack.CustomEncoder = Event{}
	_ msgpack.CustomDecoder = (*Event)(nil)
)

// EncodeMsgpack encodes ev without reflection, in the order of its fields,
// leaving out an empty Reason.
func (ev Event) EncodeMsgpack(e *msgpack.Encoder) error {
	n := 5
	if ev.Reason != "" {
		n++
	}
	if err := e.EncodeMapLen(n); err != nil {
		return err
	}
	if err := encodeString(e, "type", ev.Type); err != nil {
		return err
	}
	if err := e.EncodeString("time"); err != nil {
		return err
	}
	if err := e.EncodeInt(ev.Time); err != nil {
		return err
	}
	for _, f := range []uintField{{key: "first_offset", val: ev.FirstOffset}, {key: "last_offset", val: ev.LastOffset}, {key: "bytes", val: ev.Bytes}} {
		if err := e.EncodeString(f.key); err != nil {
			return err
		}
		if err := e.EncodeUint(f.val); err != nil {
			return err
		}
	}
	if ev.Reason == "" {
		return nil
	}
	return encodeString(e, "reason", ev.Reason)
}

func encodeString(e *msgpack.Encoder, key, val string) error {
	if err := e.EncodeString(key); err != nil {
		return err
	}
	return e.EncodeString(val)
}

// DecodeMsgpack decodes ev without reflection. It is reached through
// Unmarshal, whose Validate pass has bounded every string's length.
func (ev *Event) DecodeMsgpack(d *msgpack.Decoder) error {
	*ev = Event{}
	return decodeMap(d, "event", func(key []byte) (err error) {
		switch string(key) {
		case "type":
			ev.Type, err = decodeText(d, "type")
		case "time":
			ev.Time, err = decodeInt(d, "time")
		case "first_offset":
			ev.FirstOffset, err = decodeUint(d, "first_offset")
		case "last_offset":
			ev.LastOffset, err = decodeUint(d, "last_offset")
		case "bytes":
			ev.Bytes, err = decodeUint(d, "bytes")
		case "reason":
			ev.Reason, err = decodeText(d, "reason")
		default:
			err = skipUnknown(d)
		}
		return err
	})
}

// decodeText decodes a str (or nil, as empty) field.
func decodeText(d *msgpack.Decoder, field string) (string, error) {
	c, err := d.PeekCode()
	if err != nil {
		return "", err
	}
	if c != msgpcode.Nil && !msgpcode.IsFixedString(c) && c != msgpcode.Str8 && c != msgpcode.Str16 && c != msgpcode.Str32 {
		return "", fmt.Errorf("%w: %s is not a string (code 0x%02x)", ErrMalformed, field, c)
	}
	return d.DecodeString()
}
