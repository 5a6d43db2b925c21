//go:build !linux

package segment

import "os"

// resize sets the size of f, an index about to be mapped. Elsewhere than
// on Linux the file may be sparse: on a full file system, a write through
// the mapping to a hole may then kill the process with SIGBUS.
func resize(f *os.File, size int64) error { return f.Truncate(size) }

// preallocate sets the size of f. Elsewhere than on Linux it never
// promises allocated blocks, so stores are written with write(2).
func preallocate(f *os.File, size int64) (allocated bool, err error) {
	return false, f.Truncate(size)
}

// adviseAppends has nothing to say elsewhere than on Linux, where
// stores are not written through a mapping.
func adviseAppends([]byte) error { return nil }
