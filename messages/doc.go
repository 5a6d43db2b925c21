// Package messages defines what evlog puts on disk and on the wire: the
// Record, the request and reply bodies of the NATS protocol, the Event
// published on the events subject, the subjects they travel on and the
// error codes a client can rely on.
//
// Every body is a msgpack map with the keys documented on each type, so a
// client can be written in any language from this package and the README.
// Requests may also be JSON objects with the same keys, for people at a
// terminal: RequestFormat tells them apart, UnmarshalJSON decodes them
// under the same rules, and MsgpackToJSON gives their replies the same
// form, bytes that are not UTF-8 going base64 under a "_base64" key.
//
// The JSON decoder has no declared lengths to distrust, but it refuses
// invalid UTF-8 and lone surrogate escapes (which encoding/json would turn
// into U+FFFD, storing other bytes than were sent), nesting deeper than
// MaxDepth and trailing data, and counts records against the limit as
// they come.
//
// # Untrusted bytes
//
// msgpack declares the length of a string, binary, array or map before its
// contents, and a decoder that believes it allocates whatever a few bytes
// claim. Unmarshal therefore walks the bytes first (Validate) and rejects any
// value whose declared length exceeds the bytes that remain, nests deeper
// than MaxDepth, is an extension value, or is followed by trailing bytes.
// Only then does it decode.
// Decoding request bytes or bytes read from disk with anything but Unmarshal
// gives up that protection.
package messages
