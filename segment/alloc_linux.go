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
	_, err := preallocate(f, size)
	return err
}

// preallocate is resize that also says whether the file system allocated
// the blocks, so that writing through a mapping of the file cannot fault
// on a full disk: false for a sparse file.
func preallocate(f *os.File, size int64) (allocated bool, err error) {
	if err := f.Truncate(size); err != nil || size == 0 {
		return false, err
	}
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			return false, nil
		}
		return false, &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
}
