package messages

// MaxEncodedSize returns an upper bound of the msgpack encoding of r once
// a log has given it an offset and a timestamp, whatever they are, so that
// a record too large can be refused before it is appended.
func MaxEncodedSize(r *Record) int {
	const (
		mapHeader = 1      // at most five keys
		valueKey  = 1 + 5  // "value"
		offset    = 7 + 9  // "offset", uint64
		timestamp = 10 + 9 // "timestamp", int64
		keyKey    = 1 + 3  // "key"
		hdrsKey   = 1 + 7  // "headers"
	)
	n := mapHeader + valueKey + binSize(len(r.Value)) + offset + timestamp
	if len(r.Key) > 0 {
		n += keyKey + binSize(len(r.Key))
	}
	if len(r.Headers) > 0 {
		n += hdrsKey + 5
		for k, v := range r.Headers {
			n += StrSize(len(k)) + StrSize(len(v))
		}
	}
	return n
}

// binSize is the encoded size of a bin of n bytes.
func binSize(n int) int {
	switch {
	case n < 1<<8:
		return 2 + n
	case n < 1<<16:
		return 3 + n
	}
	return 5 + n
}

// StrSize is the encoded size of a str of n bytes.
func StrSize(n int) int {
	switch {
	case n < 32:
		return 1 + n
	case n < 1<<8:
		return 2 + n
	case n < 1<<16:
		return 3 + n
	}
	return 5 + n
}
