package segment

import (
	"errors"
	"fmt"
	"os"
)

// Close syncs and closes every segment, cutting the active index to size so
// that the next NewLog trusts it without a scan. It is safe to call twice;
// every other method then returns ErrClosed.
func (l *Log) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		l.mu.Lock()
		defer l.mu.Unlock()
		l.closed = true
		// Before the active index is cut, so that the room it frees is
		// there for it at the next open.
		for _, s := range l.segments {
			l.keepTimes(s)
		}
		err = errors.Join(l.closeSegments(), l.unlock())
		l.syncMu.Lock()
		l.syncCond.Broadcast()
		l.syncMu.Unlock()
	})
	return err
}

// unlock releases the directory: closing the file drops its flock.
func (l *Log) unlock() error {
	if l.lock == nil {
		return nil
	}
	err := l.lock.Close()
	l.lock = nil
	return err
}

func (l *Log) closeSegments() error {
	var errs []error
	for _, s := range l.segments {
		errs = append(errs, s.close())
	}
	l.segments = nil
	return errors.Join(errs...)
}

// Remove closes the log and deletes its directory.
func (l *Log) Remove() error {
	if err := l.Close(); err != nil {
		return err
	}
	if err := os.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("remove log: %w", err)
	}
	return nil
}

// Reset deletes every record and starts the log again, empty, at
// Config.Segment.InitialOffset. Unlike TruncateFront it may reuse offsets; it is
// meant for tests and for discarding a log on purpose.
func (l *Log) Reset() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	// The mark goes down first: a crash after it leaves the old segments,
	// which raise it again at open, never a mark above the new log.
	m := l.meta
	m.low = l.config.Segment.InitialOffset
	if err := writeMeta(l.dir, m); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	l.meta = m
	var errs []error
	for _, s := range l.segments {
		errs = append(errs, s.remove())
	}
	l.segments = nil
	if err := errors.Join(errs...); err != nil {
		l.closed = true
		return fmt.Errorf("reset: %w", err)
	}
	s, _, err := openSegment(l.dir, l.config.Segment.InitialOffset, l.config.Segment.MaxIndexBytes, l.config.Segment.MaxStoreBytes, true)
	if err != nil {
		l.closed = true
		return fmt.Errorf("reset: %w", err)
	}
	l.segments = []*segment{s}
	l.syncMu.Lock()
	l.synced, l.syncErr = s.next(), nil
	l.syncMu.Unlock()
	return syncDir(l.dir)
}
