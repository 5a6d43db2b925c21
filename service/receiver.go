package service

import (
	"errors"
	"sync/atomic"
)

// Receiver holds the CommitFunc a Log delivers its commits to: set once
// by Attach, cleared by Detach. Implementations of Log keep one; the
// checks that depend on their own state (a closed log) stay with them.
type Receiver struct {
	attached atomic.Bool
	fn       atomic.Pointer[CommitFunc]
}

// Attach makes fn the receiver. It may be called once.
func (r *Receiver) Attach(fn CommitFunc) error {
	if fn == nil {
		return errors.New("attach: nil CommitFunc")
	}
	if !r.attached.CompareAndSwap(false, true) {
		return errors.New("log already attached")
	}
	r.fn.Store(&fn)
	return nil
}

// Detach delivers no more commits from now on.
func (r *Receiver) Detach() { r.fn.Store(nil) }

// Deliver hands c to the receiver, if one is attached.
func (r *Receiver) Deliver(c Commit) {
	if fn := r.fn.Load(); fn != nil {
		(*fn)(c)
	}
}
