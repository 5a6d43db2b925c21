package messages

import (
	"bytes"
	"mime"
	"strings"
)

// ContentTypeJSON is the Content-Type header value that marks a JSON
// request body, and that the service sets on a JSON reply.
const ContentTypeJSON = "application/json"

// Format is how a request body is encoded, and so how its reply is.
type Format int

const (
	// FormatMsgpack is the protocol's own encoding.
	FormatMsgpack Format = iota
	// FormatJSON is for people at a terminal and clients without
	// msgpack: `nats req evlog.read '{"offset": 0}'`.
	FormatJSON
)

// String returns "msgpack" or "json".
func (f Format) String() string {
	if f == FormatJSON {
		return "json"
	}
	return "msgpack"
}

// RequestFormat tells how a request is encoded from its Content-Type
// header (empty when there is none) and its body. It is JSON when the
// header says application/json, whatever its parameters, or when the body
// starts with '{' after JSON white space.
//
// The body test cannot mistake a msgpack request for JSON: every request
// body is a map, whose first byte is 0x80-0x8f, 0xde, 0xdf or nil's 0xc0,
// while '{' (0x7b) and the white space bytes (0x09, 0x0a, 0x0d, 0x20) are
// positive fixints, complete values that no request starts with. Anything
// else, the empty body of an info request included, is msgpack.
func RequestFormat(contentType string, body []byte) Format {
	if contentType != "" {
		if mt, _, err := mime.ParseMediaType(contentType); err == nil && strings.EqualFold(mt, ContentTypeJSON) {
			return FormatJSON
		}
	}
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) > 0 && b[0] == '{' {
		return FormatJSON
	}
	return FormatMsgpack
}

// UnmarshalAppendRequest decodes an append request body in format f, with
// UnmarshalAppendRequest or UnmarshalAppendRequestJSON.
func (f Format) UnmarshalAppendRequest(data []byte, maxRecords int) (AppendRequest, error) {
	if f == FormatJSON {
		return UnmarshalAppendRequestJSON(data, maxRecords)
	}
	return UnmarshalAppendRequest(data, maxRecords)
}

// Unmarshal decodes a request body in format f, with Unmarshal or
// UnmarshalJSON.
func (f Format) Unmarshal(data []byte, v any) error {
	if f == FormatJSON {
		return UnmarshalJSON(data, v)
	}
	return Unmarshal(data, v)
}

// Reply turns a reply body encoded as msgpack, by Marshal or
// AppendReadReply, into format f: as it is for msgpack, through
// MsgpackToJSON for JSON. An error is a bug in the caller, as the
// service's own replies always convert.
func (f Format) Reply(body []byte) ([]byte, error) {
	if f == FormatJSON {
		return MsgpackToJSON(body)
	}
	return body, nil
}
