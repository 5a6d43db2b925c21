package messages

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The JSON form of the requests, for people at a terminal and clients
// without msgpack. It has the keys of the msgpack form and follows its
// rules (unknown keys skipped, null the same as a missing key, the last of
// duplicate keys wins, the same required keys and refused zeros), with
// what JSON needs on top:
//
//   - value and key are UTF-8 text; bytes that are not go base64-encoded
//     (standard alphabet, padded) under value_base64 and key_base64
//     instead. Giving both forms of one field is refused.
//   - header values are text under headers; values that are not go under
//     headers_base64, a map of the same shape. A name in both is refused.
//   - numbers are integers without fraction or exponent.
//   - keys match exactly, case included, unlike encoding/json's structs.
//
// The decoder reads token by token, so that it counts records as they
// come and refuses more than allowed before allocating them.

// jsonDecoder reads one JSON request body.
type jsonDecoder struct {
	dec *json.Decoder
}

// decodeJSON checks data with checkJSON, runs body over a decoder of it,
// and refuses anything but white space after the body's one object. what
// names the body in errors.
func decodeJSON(data []byte, what string, body func(d *jsonDecoder, first json.Token) error) error {
	err := checkJSON(data)
	if err == nil {
		d := &jsonDecoder{dec: json.NewDecoder(bytes.NewReader(data))}
		d.dec.UseNumber()
		var t json.Token
		t, err = d.dec.Token()
		if err == nil && t != json.Delim('{') {
			err = fmt.Errorf("%s is %s, not an object", what, tokenKind(t))
		}
		if err == nil {
			err = body(d, t)
		}
		if err == nil {
			if _, end := d.dec.Token(); end != io.EOF {
				err = fmt.Errorf("data after the %s", what)
			}
		}
	}
	switch {
	case err == nil, errors.Is(err, ErrMalformedJSON), errors.Is(err, ErrTooManyRecords):
		return err
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %s: unexpected end of data", ErrMalformedJSON, what)
	}
	return fmt.Errorf("%w: %s: %v", ErrMalformedJSON, what, err)
}

// object reads the object that first opens, or nothing when first is
// null, handing each key to field, which must read the value.
func (d *jsonDecoder) object(first json.Token, what string, field func(key string) error) error {
	if first == nil {
		return nil
	}
	if first != json.Delim('{') {
		return fmt.Errorf("%s is %s, not an object", what, tokenKind(first))
	}
	for d.dec.More() {
		t, err := d.dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string) // the decoder allows nothing else before a colon
		if err := field(key); err != nil {
			if errors.Is(err, ErrTooManyRecords) {
				return err
			}
			return fmt.Errorf("field %q: %w", key, err)
		}
	}
	_, err := d.dec.Token() // the closing brace
	return err
}

// next reads the token that starts the next value.
func (d *jsonDecoder) next() (json.Token, error) {
	return d.dec.Token()
}

// uint reads an unsigned integer, reporting false for null.
func (d *jsonDecoder) uint() (uint64, bool, error) {
	t, err := d.next()
	if err != nil || t == nil {
		return 0, false, err
	}
	n, ok := t.(json.Number)
	if !ok {
		return 0, false, fmt.Errorf("%s is not an integer", tokenKind(t))
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s is not an integer from 0 to %d", short(n), uint64(1<<64-1))
	}
	return v, true, nil
}

// optInt reads a signed 64-bit integer, or null as none.
func (d *jsonDecoder) optInt() (*int64, error) {
	t, err := d.next()
	if err != nil || t == nil {
		return nil, err
	}
	n, ok := t.(json.Number)
	if !ok {
		return nil, fmt.Errorf("%s is not an integer", tokenKind(t))
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s is not a 64-bit integer", short(n))
	}
	return &v, nil
}

// int reads a signed 64-bit integer; null is 0.
func (d *jsonDecoder) int() (int64, error) {
	t, err := d.next()
	if err != nil || t == nil {
		return 0, err
	}
	n, ok := t.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s is not an integer", tokenKind(t))
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not a 64-bit integer", short(n))
	}
	return v, nil
}

// text reads a string, reporting false for null.
func (d *jsonDecoder) text() (string, bool, error) {
	t, err := d.next()
	if err != nil || t == nil {
		return "", false, err
	}
	s, ok := t.(string)
	if !ok {
		return "", false, fmt.Errorf("%s is not a string", tokenKind(t))
	}
	return s, true, nil
}

// bytes reads a string as text, or as base64 when b64 is set. null is
// nil; an empty string is an empty, non-nil slice, as a msgpack bin of
// length 0 decodes.
func (d *jsonDecoder) bytes(b64 bool) ([]byte, error) {
	s, ok, err := d.text()
	if err != nil || !ok {
		return nil, err
	}
	return textOrBase64(s, b64)
}

func textOrBase64(s string, b64 bool) ([]byte, error) {
	if !b64 {
		return []byte(s), nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not standard padded base64: %v", err)
	}
	return b, nil
}

// tokenKind names what a token starts, for errors.
func tokenKind(t json.Token) string {
	switch v := t.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		if v == '{' {
			return "an object"
		}
	}
	return fmt.Sprintf("%v", t)
}

// short quotes a number for an error, cut so that a megabyte of digits
// does not become a megabyte of error.
func short(n json.Number) string {
	if len(n) > 24 {
		return string(n[:24]) + "..."
	}
	return string(n)
}
