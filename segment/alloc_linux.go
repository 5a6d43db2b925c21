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

// adviseAppends tells the kernel how the mapping m of an active store is
// written: a little at a time at its end, each write synced under
// SyncAlways. Without the advice the kernel may back the mapping with
// huge folios (2 MiB, shown as FilePmdMapped in smaps), and a write of
// one record then dirties a whole folio, which the next fdatasync writes
// out whole: measured with --sync always at 64 in flight, the bytes
// written per 100-byte record grew from 553 to 59,844 as the store filled
// and the appends slowed from 31,000 to 7,000 a second.
func adviseAppends(m []byte) error {
	if err := unix.Madvise(m, unix.MADV_NOHUGEPAGE); err != nil {
		return err
	}
	return unix.Madvise(m, unix.MADV_RANDOM)
}
