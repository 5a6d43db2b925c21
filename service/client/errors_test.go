package client

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestErrorIs(t *testing.T) {
	err := fmt.Errorf("read: %w", &Error{Code: 404, Description: "offset out of range: offset 9 is beyond 3"})
	if !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatal("404 is not ErrOffsetOutOfRange")
	}
	if errors.Is(err, ErrBadRequest) {
		t.Fatal("404 is ErrBadRequest")
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != 404 {
		t.Fatalf("as: %v", e)
	}
}

func TestReplyError(t *testing.T) {
	tests := []struct {
		name   string
		header nats.Header
		want   error
	}{
		{"success", nil, nil},
		{"coded", nats.Header{errorCodeHeader: {"413"}, errorHeader: {"too large: record 0"}}, ErrTooLarge},
		{"unreadable code", nats.Header{errorCodeHeader: {"x"}}, ErrInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := replyError(&nats.Msg{Header: tt.header})
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}
