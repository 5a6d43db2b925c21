package messages

import (
	"encoding/json"
	"fmt"
)

// UnmarshalJSON decodes a JSON request body into v, which must be a
// *ReadRequest, a *TruncateRequest, a *SnapshotRequest or an *AppendRequest (without a limit
// on its records; the service uses UnmarshalAppendRequestJSON). The body
// follows the rules of the msgpack form; see the README. Any failure
// wraps ErrMalformedJSON.
func UnmarshalJSON(data []byte, v any) error {
	switch r := v.(type) {
	case *ReadRequest:
		return decodeJSON(data, "read request", r.decodeJSON)
	case *TruncateRequest:
		return decodeJSON(data, "truncate request", r.decodeJSON)
	case *SnapshotRequest:
		return decodeJSON(data, "snapshot request", r.decodeJSON)
	case *AppendRequest:
		ar, err := UnmarshalAppendRequestJSON(data, 0)
		*r = ar
		return err
	}
	return fmt.Errorf("%w: no JSON form for %T", ErrMalformedJSON, v)
}

// UnmarshalAppendRequestJSON decodes a JSON append request body, refusing
// more than maxRecords records, when positive, with an error wrapping
// ErrTooManyRecords as soon as the next one starts, before it is decoded.
// Other failures wrap ErrMalformedJSON.
func UnmarshalAppendRequestJSON(data []byte, maxRecords int) (AppendRequest, error) {
	var ar AppendRequest
	err := decodeJSON(data, "append request", func(d *jsonDecoder, first json.Token) error {
		return d.object(first, "append request", func(key string) (err error) {
			switch key {
			case "records":
				ar.Records, err = d.records(maxRecords)
			case "id":
				ar.ID, err = d.id()
			case "expected_offset":
				ar.ExpectedOffset, err = d.optUint()
			default:
				err = d.skipNext()
			}
			return err
		})
	})
	if err != nil {
		return AppendRequest{}, err
	}
	return ar, nil
}

func (r *ReadRequest) decodeJSON(d *jsonDecoder, first json.Token) error {
	*r = ReadRequest{}
	hasOffset := false
	err := d.object(first, "read request", func(key string) (err error) {
		switch key {
		case "offset":
			r.Offset, hasOffset, err = d.uint()
		case "timestamp":
			r.Timestamp, err = d.optInt()
		case "max_records":
			r.MaxRecords, err = d.limit(key)
		case "max_bytes":
			r.MaxBytes, err = d.limit(key)
		case "wait_ms":
			r.WaitMS, _, err = d.uint()
		default:
			err = d.skipNext()
		}
		return err
	})
	if err == nil {
		if err = checkReadStart(hasOffset, r.Timestamp != nil); err != nil {
			err = fmt.Errorf("%w: %v", ErrMalformedJSON, err)
		}
	}
	return err
}

func (r *TruncateRequest) decodeJSON(d *jsonDecoder, first json.Token) error {
	*r = TruncateRequest{}
	hasLowest := false
	err := d.object(first, "truncate request", func(key string) (err error) {
		switch key {
		case "lowest":
			r.Lowest, hasLowest, err = d.uint()
		default:
			err = d.skipNext()
		}
		return err
	})
	if err == nil && !hasLowest {
		err = fmt.Errorf("%w: %v", ErrMalformedJSON, errNoField("truncate request", "lowest"))
	}
	return err
}

// id reads an append id, a string that CheckID accepts, or null for
// none. JSON strings are text; an id is compared as the bytes of its
// UTF-8 encoding, so "é" in JSON is the same id as its two bytes in msgpack.
func (d *jsonDecoder) id() (string, error) {
	s, ok, err := d.text()
	if err != nil || !ok {
		return "", err
	}
	return s, CheckID(s)
}

// optUint reads an unsigned integer whose zero is a value of its own, or
// null for none.
func (d *jsonDecoder) optUint() (*uint64, error) {
	v, ok, err := d.uint()
	if err != nil || !ok {
		return nil, err
	}
	return &v, nil
}

// limit reads a limit such as max_records: absent or null for the
// default, never 0.
func (d *jsonDecoder) limit(field string) (uint64, error) {
	v, ok, err := d.uint()
	if err == nil && ok {
		err = checkLimit(field, v)
	}
	return v, err
}

// skipNext reads and drops the next value. It goes through Decode rather
// than token by token, which would allocate dozens of times the value's
// size; the copy it makes is the value's size, and checkJSON has bounded
// how deep it nests.
func (d *jsonDecoder) skipNext() error {
	var raw json.RawMessage
	return d.dec.Decode(&raw)
}

// records reads an array of records, or null for none, refusing the
// record after the first maxRecords when maxRecords is positive.
func (d *jsonDecoder) records(maxRecords int) ([]Record, error) {
	t, err := d.next()
	if err != nil || t == nil {
		return nil, err
	}
	if t != json.Delim('[') {
		return nil, fmt.Errorf("%s is not an array", tokenKind(t))
	}
	var recs []Record
	for d.dec.More() {
		if maxRecords > 0 && len(recs) == maxRecords {
			return nil, fmt.Errorf("%w: more than %d records", ErrTooManyRecords, maxRecords)
		}
		var r Record
		if err := d.record(&r); err != nil {
			return nil, fmt.Errorf("record %d: %w", len(recs), err)
		}
		recs = append(recs, r)
	}
	if _, err := d.next(); err != nil { // the closing bracket
		return nil, err
	}
	if len(recs) == 0 {
		return nil, nil // as the msgpack form decodes an empty array
	}
	return recs, nil
}

// jsonRecord holds a record's fields as they are read, so that the text
// and base64 forms can be checked against each other once all are in.
type jsonRecord struct {
	value, valueB64, key, keyB64 []byte
	headers, headersB64          map[string]string
}

// record reads one record object, or null for an empty record.
func (d *jsonDecoder) record(r *Record) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	var jr jsonRecord
	err = d.object(t, "record", func(key string) (err error) {
		switch key {
		case "value":
			jr.value, err = d.bytes(false)
		case "value_base64":
			jr.valueB64, err = d.bytes(true)
		case "key":
			jr.key, err = d.bytes(false)
		case "key_base64":
			jr.keyB64, err = d.bytes(true)
		case "headers":
			jr.headers, err = d.headers(false)
		case "headers_base64":
			jr.headersB64, err = d.headers(true)
		case "offset":
			r.Offset, _, err = d.uint()
		case "timestamp":
			r.Timestamp, err = d.int()
		default:
			err = d.skipNext()
		}
		return err
	})
	if err != nil {
		return err
	}
	return jr.fill(r)
}

// fill sets r's bytes from whichever form each field came in.
func (jr *jsonRecord) fill(r *Record) error {
	var err error
	if r.Value, err = oneForm("value", jr.value, jr.valueB64); err != nil {
		return err
	}
	if r.Key, err = oneForm("key", jr.key, jr.keyB64); err != nil {
		return err
	}
	r.Headers = jr.headers
	for name, v := range jr.headersB64 {
		if _, dup := r.Headers[name]; dup {
			return fmt.Errorf("header %q is in both headers and headers_base64", name)
		}
		if r.Headers == nil {
			r.Headers = make(map[string]string, len(jr.headersB64))
		}
		r.Headers[name] = v
	}
	return nil
}

// oneForm returns whichever of text and b64 was given, refusing both.
func oneForm(field string, text, b64 []byte) ([]byte, error) {
	if text != nil && b64 != nil {
		return nil, fmt.Errorf("both %s and %s_base64", field, field)
	}
	if b64 != nil {
		return b64, nil
	}
	return text, nil
}

// headers reads an object of header values, text or base64, or null for
// none. A null value is the empty string, as nil is in the msgpack form.
// An empty object is nil, as in the msgpack form.
func (d *jsonDecoder) headers(b64 bool) (map[string]string, error) {
	t, err := d.next()
	if err != nil {
		return nil, err
	}
	var h map[string]string
	err = d.object(t, "headers", func(name string) error {
		v, err := d.bytes(b64)
		if err != nil {
			return err
		}
		if h == nil {
			h = make(map[string]string)
		}
		h[name] = string(v)
		return nil
	})
	return h, err
}
