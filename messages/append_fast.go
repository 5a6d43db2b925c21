package messages

// The fast path of UnmarshalAppendRequest. Going through the msgpack
// library costs several interface calls per field and a copy of every
// value, about half a microsecond per record of 100 bytes, which is most
// of what the service spends on an append. decodeAppendFast reads the
// shapes that clients write straight from the body's bytes, with values
// and keys left in the body (sub-slices, not copies). Anything else (an
// unknown key, a nil, an integer in a signed encoding, a limit passed,
// a truncated or malformed body) makes it give up, and the library's
// decoder decodes the body from the start: that one path produces every
// error and takes every unusual but valid body, so the fast path cannot
// change what is accepted, only how quickly.

// cursor reads msgpack from b at i.
type cursor struct {
	b []byte
	i int
}

func (c *cursor) next() (byte, bool) {
	if c.i >= len(c.b) {
		return 0, false
	}
	x := c.b[c.i]
	c.i++
	return x, true
}

// bigEndian reads an unsigned big-endian integer of n bytes.
func (c *cursor) bigEndian(n int) (uint64, bool) {
	if len(c.b)-c.i < n {
		return 0, false
	}
	var v uint64
	for _, x := range c.b[c.i : c.i+n] {
		v = v<<8 | uint64(x)
	}
	c.i += n
	return v, true
}

// length reads the length that follows a str, bin, array or map code in
// the width its code gives, and refuses one longer than the bytes left:
// every item takes at least a byte, so no body that declares more can be
// decoded, and nothing is allocated for it.
func (c *cursor) length(width int) (int, bool) {
	n, ok := c.bigEndian(width)
	if !ok || n > uint64(len(c.b)-c.i) {
		return 0, false
	}
	return int(n), true
}

// mapLen reads a map header.
func (c *cursor) mapLen() (int, bool) {
	x, ok := c.next()
	switch {
	case !ok:
		return 0, false
	case x&0xf0 == 0x80:
		return int(x & 0x0f), true
	case x == 0xde:
		return c.length(2)
	case x == 0xdf:
		return c.length(4)
	}
	return 0, false
}

// arrayLen reads an array header.
func (c *cursor) arrayLen() (int, bool) {
	x, ok := c.next()
	switch {
	case !ok:
		return 0, false
	case x&0xf0 == 0x90:
		return int(x & 0x0f), true
	case x == 0xdc:
		return c.length(2)
	case x == 0xdd:
		return c.length(4)
	}
	return 0, false
}

// bytes reads a str or bin and returns its bytes in place, capped so that
// appending to them cannot write over the rest of the body, or nil for a
// nil.
func (c *cursor) bytes() ([]byte, bool) {
	x, ok := c.next()
	var n int
	switch {
	case !ok:
		return nil, false
	case x == 0xc0:
		return nil, true // nil, as a record without a value encodes
	case x&0xe0 == 0xa0:
		n = int(x & 0x1f)
		if n > len(c.b)-c.i {
			return nil, false
		}
	case x == 0xd9 || x == 0xc4:
		n, ok = c.length(1)
	case x == 0xda || x == 0xc5:
		n, ok = c.length(2)
	case x == 0xdb || x == 0xc6:
		n, ok = c.length(4)
	default:
		return nil, false
	}
	if !ok {
		return nil, false
	}
	b := c.b[c.i : c.i+n : c.i+n]
	c.i += n
	return b, true
}

// uint reads a positive fixint or an unsigned integer.
func (c *cursor) uint() (uint64, bool) {
	x, ok := c.next()
	switch {
	case !ok:
		return 0, false
	case x <= 0x7f:
		return uint64(x), true
	case x >= 0xcc && x <= 0xcf:
		return c.bigEndian(1 << (x - 0xcc))
	}
	return 0, false
}

// int reads an integer that fits in an int64.
func (c *cursor) int() (int64, bool) {
	x, ok := c.next()
	switch {
	case !ok:
		return 0, false
	case x <= 0x7f || x >= 0xe0:
		return int64(int8(x)), true
	case x >= 0xcc && x <= 0xcf:
		v, ok := c.bigEndian(1 << (x - 0xcc))
		return int64(v), ok && v <= 1<<63-1
	case x >= 0xd0 && x <= 0xd3:
		width := 1 << (x - 0xd0)
		v, ok := c.bigEndian(width)
		// Sign-extend from width bytes.
		shift := 64 - 8*width
		return int64(v<<shift) >> shift, ok
	}
	return 0, false
}

// decodeAppendFast decodes data as UnmarshalAppendRequest would, or
// reports false for the library's decoder to do it.
func decodeAppendFast(data []byte, maxRecords int) (AppendRequest, bool) {
	c := cursor{b: data}
	var ar AppendRequest
	n, ok := c.mapLen()
	for ; ok && n > 0; n-- {
		var key []byte
		if key, ok = c.bytes(); !ok {
			break
		}
		switch string(key) {
		case "records":
			ar.Records, ok = c.records(maxRecords)
		case "id":
			var id []byte
			id, ok = c.bytes()
			// A nil id is none; any other must pass CheckID.
			ar.ID = string(id)
			ok = ok && (id == nil || CheckID(ar.ID) == nil)
		case "expected_offset":
			var v uint64
			v, ok = c.uint()
			ar.ExpectedOffset = &v
		default:
			ok = false
		}
	}
	return ar, ok && c.i == len(data)
}

// records reads the records array of an append request.
func (c *cursor) records(maxRecords int) ([]Record, bool) {
	n, ok := c.arrayLen()
	if !ok || maxRecords > 0 && n > maxRecords {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	recs := make([]Record, n)
	for i := range recs {
		if !c.record(&recs[i]) {
			return nil, false
		}
	}
	return recs, true
}

// record reads one record map.
func (c *cursor) record(r *Record) bool {
	n, ok := c.mapLen()
	for ; ok && n > 0; n-- {
		var key []byte
		if key, ok = c.bytes(); !ok {
			return false
		}
		switch string(key) {
		case "value":
			r.Value, ok = c.bytes()
		case "offset":
			r.Offset, ok = c.uint()
		case "timestamp":
			r.Timestamp, ok = c.int()
		case "key":
			r.Key, ok = c.bytes()
		case "headers":
			r.Headers, ok = c.headers()
		default:
			return false
		}
	}
	return ok
}

// headers reads a record's headers, copied into strings.
func (c *cursor) headers() (map[string]string, bool) {
	n, ok := c.mapLen()
	if !ok || n == 0 {
		return nil, ok
	}
	// Not sized by n, as in decodeHeaders: duplicate keys collapse.
	h := make(map[string]string, min(n, 8))
	for ; n > 0; n-- {
		k, ok := c.bytes()
		if !ok {
			return nil, false
		}
		v, ok := c.bytes()
		if !ok {
			return nil, false
		}
		h[string(k)] = string(v)
	}
	return h, true
}
