// Package messages defines what evlog puts on disk and on the wire: the
// Record, the request and reply bodies of the NATS protocol, the subjects
// they travel on and the error codes a client can rely on.
//
// Every body is a msgpack map with the keys documented on each type, so a
// client can be written in any language from this package and the README.
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
