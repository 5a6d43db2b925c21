package messages

import (
	"bytes"
	"testing"
)

// Validate must accept everything the encoders write, or the service would
// refuse its own bodies.
func TestValidateAcceptsEncoded(t *testing.T) {
	for _, tc := range sampleBodies() {
		t.Run(tc.name, func(t *testing.T) {
			if err := Validate(mustMarshal(t, tc.v)); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// A body cut short anywhere is refused, by Validate and so by Unmarshal,
// never decoded into something else.
func TestValidateRejectsTruncated(t *testing.T) {
	for _, tc := range sampleBodies() {
		t.Run(tc.name, func(t *testing.T) {
			b := mustMarshal(t, tc.v)
			for cut := range len(b) {
				if err := Validate(b[:cut]); err == nil {
					t.Fatalf("Validate accepted the first %d of %d bytes", cut, len(b))
				} else {
					assertMalformed(t, err)
				}
				assertMalformed(t, Unmarshal(b[:cut], newLike(tc.v)))
			}
		})
	}
}

func TestValidate(t *testing.T) {
	nested := func(depth int) []byte {
		return append(bytes.Repeat([]byte{0x91}, depth), 0x01)
	}
	tests := []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"positive fixint", []byte{0x05}, true},
		{"negative fixint", []byte{0xff}, true},
		{"nil", []byte{0xc0}, true},
		{"bools", []byte{0x92, 0xc2, 0xc3}, true},
		{"float32", []byte{0xca, 0, 0, 0, 0}, true},
		{"float64", []byte{0xcb, 0, 0, 0, 0, 0, 0, 0, 0}, true},
		{"uint64", []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, true},
		{"int16", []byte{0xd1, 0x80, 0x00}, true},
		{"str8", []byte{0xd9, 0x02, 'h', 'i'}, true},
		{"bin16", []byte{0xc5, 0x00, 0x01, 0x00}, true},
		{"str32 empty", []byte{0xdb, 0, 0, 0, 0}, true},
		{"array16", []byte{0xdc, 0x00, 0x02, 0x01, 0x02}, true},
		{"map32", []byte{0xdf, 0, 0, 0, 1, 0xa1, 'k', 0x01}, true},
		{"nested MaxDepth", nested(MaxDepth), true},

		{"empty", nil, false},
		{"never used code", []byte{0xc1}, false},
		{"trailing byte", []byte{0x01, 0x02}, false},
		{"two values", []byte{0x80, 0x80}, false},
		{"nested MaxDepth+1", nested(MaxDepth + 1), false},
		{"nested 100000", nested(100_000), false},
		{"truncated uint32", []byte{0xce, 0, 0}, false},
		{"str8 longer than data", []byte{0xd9, 0x03, 'h', 'i'}, false},
		{"bin32 4 GiB", []byte{0xc6, 0xff, 0xff, 0xff, 0xff}, false},
		{"str32 4 GiB", []byte{0xdb, 0xff, 0xff, 0xff, 0xff}, false},
		{"array32 4G items", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, false},
		{"map32 4G entries", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, false},
		{"array16 more than present", []byte{0xdc, 0x00, 0x03, 0x01, 0x02}, false},
		{"map16 more than present", []byte{0xde, 0x00, 0x02, 0xa1, 'k', 0x01, 0xa1, 'j'}, false},
		{"map missing a value", []byte{0x81, 0xa1, 'k'}, false},
		{"truncated length", []byte{0xdd, 0xff, 0xff}, false},
		{"fixext1", []byte{0xd4, 0x01, 0x00}, false},
		{"fixext16", append([]byte{0xd8, 0x01}, make([]byte, 16)...), false},
		{"ext8", []byte{0xc7, 0x01, 0x05, 0x00}, false},
		{"ext16", []byte{0xc8, 0x00, 0x01, 0x05, 0x00}, false},
		{"ext32", []byte{0xc9, 0x00, 0x00, 0x00, 0x01, 0x05, 0x00}, false},
		{"timestamp ext", []byte{0xd6, 0xff, 0, 0, 0, 0}, false},
		{"ext in a map", []byte{0x81, 0xa1, 'k', 0xd4, 0x01, 0x00}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.b)
			if tc.ok {
				if err != nil {
					t.Fatalf("Validate(%x): %v", tc.b, err)
				}
				return
			}
			assertMalformed(t, err)
		})
	}
}

func TestValidateAllocatesNothing(t *testing.T) {
	body := mustMarshal(t, AppendRequest{Records: sampleRecordValues()})
	bad := append(bytes.Clone(body), 0x00)
	for _, tc := range []struct {
		name string
		b    []byte
	}{{"valid", body}, {"trailing byte", bad}, {"deep", bytes.Repeat([]byte{0x91}, 1000)}} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			allocs := testing.AllocsPerRun(10, func() { err = Validate(tc.b) })
			// Only the error, when there is one, may allocate; how
			// often fmt does cannot be told under the race detector.
			if err == nil && allocs != 0 || allocs > 3 && !raceEnabled {
				t.Fatalf("Validate allocated %v times (err %v)", allocs, err)
			}
		})
	}
}
