package service

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/evlog/evlog/segment"
)

// Failure is the sticky failure behind a Log's Failed and Err: set once,
// by the first Fail, and never cleared, since after a failed sync or a
// partial write nothing more may be acknowledged. Implementations of Log
// keep one and forward Failed and Err to it.
type Failure struct {
	once   sync.Once
	failed chan struct{}
	err    error // set before failed is closed
	logger *slog.Logger
	msg    string
}

// NewFailure returns a Failure that logs msg, with the error, on logger
// when it is first set; a nil logger is silent.
func NewFailure(logger *slog.Logger, msg string) *Failure {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Failure{failed: make(chan struct{}), logger: logger, msg: msg}
}

// Failed is closed once Fail has been called.
func (f *Failure) Failed() <-chan struct{} { return f.failed }

// Err returns the failure that closed Failed, or nil.
func (f *Failure) Err() error {
	select {
	case <-f.failed:
		return f.err
	default:
		return nil
	}
}

// Fail makes err, wrapped in ErrLogFailed, the failure, unless there is
// one already.
func (f *Failure) Fail(err error) {
	f.once.Do(func() {
		if !errors.Is(err, ErrLogFailed) {
			err = fmt.Errorf("%w: %w", ErrLogFailed, err)
		}
		f.err = err
		close(f.failed)
		f.logger.Error(f.msg, "error", err)
	})
}

// SegmentError wraps an error of a segment.Log in the sentinel whose wire
// code answers it, for Log implementations built on one.
func SegmentError(err error) error {
	switch {
	case errors.Is(err, segment.ErrFailed):
		return fmt.Errorf("%w: %w", ErrLogFailed, err)
	case errors.Is(err, segment.ErrRecordTooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, segment.ErrOffsetOutOfRange):
		return fmt.Errorf("%w: %w", ErrOffsetOutOfRange, err)
	case errors.Is(err, segment.ErrClosed):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
