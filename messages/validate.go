package messages

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxDepth is how deeply arrays and maps may nest in a body that Unmarshal
// accepts. evlog's own bodies nest three levels; the limit only exists so
// that a hostile body cannot recurse without bound.
const MaxDepth = 16

// ErrMalformed is returned when bytes are not a well-formed msgpack value of
// the expected shape: bad encoding, a declared length larger than the data,
// too deep nesting, an extension value, trailing bytes, or a field of the
// wrong type.
var ErrMalformed = errors.New("malformed msgpack")

// ErrTooManyRecords is returned by UnmarshalAppendRequest for a body that
// declares more records than allowed. It does not wrap ErrMalformed: the
// body may be well formed, only too large.
var ErrTooManyRecords = errors.New("too many records")

// Validate reports whether b holds exactly one well-formed msgpack value
// whose every declared length fits in the bytes that follow it. It allocates
// nothing and takes time linear in len(b), whatever the bytes claim.
//
// Extension values (fixext, ext8/16/32) are rejected although msgpack allows
// them: evlog never sends one, and the msgpack library reads a map that it
// finds inside an extension's payload, whose bytes Validate cannot vouch
// for. An 11-byte extension wrapping {"x": array32 of 4294967295} would
// otherwise pass Validate and make Unmarshal into a map allocate 64 GiB.
func Validate(b []byte) error {
	n, err := skipValue(b, 0, 0)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("%w: %d trailing bytes after the value", ErrMalformed, len(b)-n)
	}
	return nil
}

// skipValue returns the position just after the value that starts at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("%w: unexpected end of data at byte %d", ErrMalformed, i)
	}
	c := b[i]
	i++
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return i, nil // fixint, nil, bool
	case c >= 0x80 && c <= 0x8f:
		return skipItems(b, i, depth, 2*int(c&0x0f))
	case c >= 0x90 && c <= 0x9f:
		return skipItems(b, i, depth, int(c&0x0f))
	case c >= 0xa0 && c <= 0xbf:
		return skipBytes(b, i, int(c&0x1f))
	}
	switch c {
	case 0xcc, 0xd0:
		return skipBytes(b, i, 1)
	case 0xcd, 0xd1:
		return skipBytes(b, i, 2)
	case 0xca, 0xce, 0xd2:
		return skipBytes(b, i, 4)
	case 0xcb, 0xcf, 0xd3:
		return skipBytes(b, i, 8)
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return 0, fmt.Errorf("%w: extension value (code 0x%02x) at byte %d", ErrMalformed, c, i-1)
	case 0xc4, 0xd9: // bin8, str8
		return skipSized(b, i, 1)
	case 0xc5, 0xda:
		return skipSized(b, i, 2)
	case 0xc6, 0xdb:
		return skipSized(b, i, 4)
	case 0xdc, 0xdd, 0xde, 0xdf:
		width := 2
		if c == 0xdd || c == 0xdf {
			width = 4
		}
		n, j, err := readLen(b, i, width)
		if err != nil {
			return 0, err
		}
		if c >= 0xde {
			if n > (len(b)-j)/2 {
				return 0, fmt.Errorf("%w: map of %d entries declared with %d bytes left", ErrMalformed, n, len(b)-j)
			}
			n *= 2
		}
		return skipItems(b, j, depth, n)
	}
	return 0, fmt.Errorf("%w: invalid code 0x%02x at byte %d", ErrMalformed, c, i-1)
}

// skipItems skips n consecutive values. Every value takes at least one byte,
// so a count larger than the bytes left is rejected before any work is done.
func skipItems(b []byte, i, depth, n int) (int, error) {
	if depth >= MaxDepth {
		return 0, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxDepth)
	}
	if n > len(b)-i {
		return 0, fmt.Errorf("%w: %d items declared with %d bytes left", ErrMalformed, n, len(b)-i)
	}
	var err error
	for ; n > 0; n-- {
		if i, err = skipValue(b, i, depth+1); err != nil {
			return 0, err
		}
	}
	return i, nil
}

// skipSized skips a length-prefixed payload: a big-endian length of width
// bytes, then the payload.
func skipSized(b []byte, i, width int) (int, error) {
	n, j, err := readLen(b, i, width)
	if err != nil {
		return 0, err
	}
	return skipBytes(b, j, n)
}

func skipBytes(b []byte, i, n int) (int, error) {
	if n > len(b)-i {
		return 0, fmt.Errorf("%w: %d bytes declared with %d left", ErrMalformed, n, len(b)-i)
	}
	return i + n, nil
}

func readLen(b []byte, i, width int) (n, next int, err error) {
	if width > len(b)-i {
		return 0, 0, fmt.Errorf("%w: truncated length at byte %d", ErrMalformed, i)
	}
	switch width {
	case 1:
		n = int(b[i])
	case 2:
		n = int(binary.BigEndian.Uint16(b[i:]))
	default:
		// Compared as uint64, so that on 32-bit platforms a length of 2 GiB
		// or more is refused here rather than turning negative as an int
		// and slipping past the checks against the bytes left.
		u := binary.BigEndian.Uint32(b[i:])
		if uint64(u) > uint64(len(b)-i-width) {
			return 0, 0, fmt.Errorf("%w: length %d at byte %d exceeds the %d bytes left", ErrMalformed, u, i, len(b)-i-width)
		}
		n = int(u)
	}
	return n, i + width, nil
}
