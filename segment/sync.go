package segment

import (
	"errors"
	"fmt"
	"time"
)

// fail makes err the log's sticky failure, unless it already has one, and
// returns the failure: after a sync that did not complete, nothing more
// may be acknowledged until the log is reopened and recovered.
func (l *Log) fail(err error) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.syncErr == nil {
		l.syncErr = fmt.Errorf("%w: %w", ErrFailed, err)
	}
	return l.syncErr
}

// Sync makes every record appended before the call durable. Concurrent
// callers share syncs. After a failed sync the log is failed: Sync and the
// appends return the error until the log is reopened, because what the
// kernel kept after a failed fdatasync is unknown.
func (l *Log) Sync() error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	target := l.active().next()
	l.mu.RUnlock()

	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	for {
		switch {
		case l.syncErr != nil:
			return l.syncErr
		case l.synced >= target:
			return nil
		case l.syncing:
			l.syncCond.Wait()
			continue
		}
		l.syncing = true
		l.syncMu.Unlock()
		upTo, err := l.syncActive()
		l.syncMu.Lock()
		l.syncing = false
		if err != nil && !errors.Is(err, ErrClosed) {
			if l.syncErr == nil {
				l.syncErr = fmt.Errorf("%w: %w", ErrFailed, err)
			}
			err = l.syncErr
		} else if err == nil && upTo > l.synced {
			l.synced = upTo
		}
		l.syncCond.Broadcast()
		if err != nil {
			return err
		}
	}
}

// syncActive syncs the active segment and returns the offset below which
// everything is then durable. Earlier segments were synced when they were
// sealed.
func (l *Log) syncActive() (uint64, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	s := l.active()
	upTo := s.next()
	l.mu.RUnlock()
	// TruncateFront may remove s while this runs; the store's own lock makes
	// that wait, and a removed segment's records need no sync.
	return upTo, s.store.sync()
}

func (l *Log) syncEvery(d time.Duration) {
	defer close(l.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if err := l.Sync(); err != nil && !errors.Is(err, ErrClosed) {
				l.config.Logger.Error("background sync failed", "err", err)
			}
		}
	}
}
