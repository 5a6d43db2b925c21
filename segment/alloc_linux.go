package segment

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// resize sets the size of f, an index about to be mapped, and has the file
// system allocate every byte of it. A write through a memory mapping to a
// hole cannot fail with an error: on a full file system the kernel sends
// SIGBUS and the process dies. With the blocks allocated up front, a full
// disk shows as an error here, or from the store's write, instead. File
// systems that cannot allocate ahead get a sparse file, as with Truncate.
func resize(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil || size == 0 {
		return err
	}
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			return nil
		}
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
}
