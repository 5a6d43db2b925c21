package messages

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrMalformedJSON is returned when a JSON request body is not well-formed
// JSON of the expected shape: bad syntax, invalid UTF-8, a lone surrogate
// escape, nesting deeper than MaxDepth, trailing data, a field of the wrong
// type, or a broken rule such as a value given both as text and as base64.
var ErrMalformedJSON = errors.New("malformed JSON")

// checkJSON refuses, in one pass that allocates nothing, what
// encoding/json would otherwise accept by changing it: invalid UTF-8 and
// escapes of lone UTF-16 surrogates both turn into U+FFFD, so that a
// record would be stored with other bytes than were sent. It also bounds
// nesting by MaxDepth, as Validate does for msgpack. Syntax is left to the
// decoder that runs next.
func checkJSON(b []byte) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: not valid UTF-8", ErrMalformedJSON)
	}
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end, err := skipJSONString(b, i+1)
			if err != nil {
				return err
			}
			i = end
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return fmt.Errorf("%w: nested deeper than %d", ErrMalformedJSON, MaxDepth)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// skipJSONString returns the position of the quote that ends the string
// whose contents start at b[i], or len(b) when it does not end, and
// refuses a \u escape of a surrogate that is not half of a pair.
func skipJSONString(b []byte, i int) (int, error) {
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			return i, nil
		case '\\':
			if i+1 < len(b) && b[i+1] == 'u' {
				next, err := checkEscape(b, i)
				if err != nil {
					return 0, err
				}
				i = next - 1
				continue
			}
			i++ // whatever is escaped, it does not end the string
		}
	}
	return len(b), nil
}

// checkEscape checks the \u escape at b[i] and returns the position after
// it, or after the pair it starts. A malformed escape is left for the
// decoder to refuse.
func checkEscape(b []byte, i int) (int, error) {
	r, ok := hex4(b, i+2)
	switch {
	case !ok:
		return i + 2, nil
	case r >= 0xdc00 && r <= 0xdfff:
		return 0, fmt.Errorf("%w: lone surrogate \\u%04x at byte %d", ErrMalformedJSON, r, i)
	case r < 0xd800 || r > 0xdbff:
		return i + 6, nil
	}
	if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
		if lo, ok := hex4(b, i+8); ok && lo >= 0xdc00 && lo <= 0xdfff {
			return i + 12, nil
		}
	}
	return 0, fmt.Errorf("%w: lone surrogate \\u%04x at byte %d", ErrMalformedJSON, r, i)
}

// hex4 parses the four hex digits at b[i].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
