//go:build unix

package segment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockName is the file in a log directory that a process holding the log
// keeps locked.
const lockName = "LOCK"

// lockDir takes an exclusive advisory lock on dir, so that two processes,
// each believing it owns the log, cannot interleave their appends. The lock
// goes with the returned file, and with the process if it dies.
func lockDir(dir string) (*os.File, error) {
	name := filepath.Join(dir, lockName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock log dir: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by another process", ErrLocked, dir)
		}
		return nil, fmt.Errorf("lock log dir %s: %w", dir, err)
	}
	return f, nil
}
