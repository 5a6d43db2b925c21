package service

import (
	"errors"
	"fmt"
	"testing"

	"github.com/evlog/evlog/segment"
)

// TestFailureIsSticky: the first failure stays, wrapped in ErrLogFailed,
// and Failed is closed from then on.
func TestFailureIsSticky(t *testing.T) {
	f := NewFailure(nil, "failed")
	if f.Err() != nil {
		t.Fatal("a new Failure has failed")
	}
	first := errors.New("disk gone")
	f.Fail(first)
	f.Fail(errors.New("later"))
	select {
	case <-f.Failed():
	default:
		t.Fatal("Failed not closed after Fail")
	}
	if err := f.Err(); !errors.Is(err, ErrLogFailed) || !errors.Is(err, first) {
		t.Fatalf("Err %v, want the first failure wrapped in ErrLogFailed", err)
	}
}

// TestSegmentError maps each segment error to the code that answers it.
func TestSegmentError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{segment.ErrFailed, 500},
		{segment.ErrRecordTooLarge, 413},
		{segment.ErrOffsetOutOfRange, 404},
		{segment.ErrClosed, 503},
	} {
		err := SegmentError(fmt.Errorf("append: %w", tc.err))
		if got := codeOf(err); got != tc.code || !errors.Is(err, tc.err) {
			t.Errorf("%v: code %d, want %d", tc.err, got, tc.code)
		}
	}
}
