package segment

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"

	"github.com/tysonmote/gommap"

	"github.com/evlog/evlog/segment/internal/frame"
)

// maxStoreBytes bounds MaxStoreBytes so that positions and frame lengths
// stay far from overflow.
const maxStoreBytes = 1 << 40

// writeAt, writeMapped and syncFile are how a store writes (with
// write(2), or through its mapping) and syncs its file. Tests replace
// them to fail as a full or broken disk would.
var (
	writeAt     = (*os.File).WriteAt
	writeMapped = copyToMapping
	syncFile    = fdatasync
)

// store is the file of framed records of one segment. Writes happen under
// the Log's write lock; reads use ReadAt and need no lock of their own.
type store struct {
	file *os.File
	name string
	// size is the number of bytes written. It changes only under the Log's
	// write lock, and readers hold its read lock.
	size uint64

	// data maps the file, usually past its end so that it need not be
	// remapped as the store grows: reads copy from it instead of paying a
	// pread each. Only bytes below size are ever read, since a page past
	// the end of the file faults.
	data gommap.MMap
	// writable says that the file is preallocated, with its blocks
	// allocated, up to len(data), which is mapped for writing: appends
	// copy into the mapping instead of paying a write(2) each. The bytes
	// past size are zeros, free space to recovery and Check. Only the
	// active store is writable; sealing cuts the file back to size.
	writable bool
	// free counts the zeros that diagnose found after the last frame: a
	// preallocated tail that a crash left. The file is size+free bytes
	// long until recovery cuts it.
	free uint64

	// syncMu serialises sync with close, because syncs run outside the
	// Log's lock so that appends go on during an fdatasync.
	syncMu sync.Mutex
	closed bool
}

// maxMapBytes caps a store's mapping; reads past it use pread.
const maxMapBytes = 1 << 30

// mapData maps the store for reading, length bytes or its size if larger
// (up to maxMapBytes). Writes go through the file, and the kernel's page
// cache makes them visible in the mapping at once.
func (s *store) mapData(length uint64) error {
	length = min(max(length, s.size), maxMapBytes)
	if length == 0 || s.data != nil {
		return nil
	}
	m, err := gommap.MapRegion(s.file.Fd(), 0, int64(length), gommap.PROT_READ, gommap.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map store %s: %w", s.name, err)
	}
	s.data = m
	return nil
}

// mapForAppends preallocates the active store to length bytes and maps
// all of it for writing, so that appends are copies into the page cache.
// Where the blocks cannot be allocated ahead (a file system that cannot,
// or one too full for a whole store), or length is beyond what a store
// maps, the store is mapped for reading only and appends use write(2),
// which reports a full disk as an error: a write through a mapping into a
// hole of a full file system would kill the process with SIGBUS. So a log
// on a full disk still opens, and fails appends as it always did.
func (s *store) mapForAppends(length uint64) error {
	if length <= s.size || length > maxMapBytes || s.data != nil {
		return s.mapData(length)
	}
	allocated, err := preallocate(s.file, int64(length))
	if err != nil || !allocated {
		if err := s.file.Truncate(int64(s.size)); err != nil {
			return fmt.Errorf("cut store %s after a failed preallocation: %w", s.name, err)
		}
		return s.mapData(length)
	}
	m, err := gommap.MapRegion(s.file.Fd(), 0, int64(length), gommap.PROT_READ|gommap.PROT_WRITE, gommap.MAP_SHARED)
	if err != nil {
		if terr := s.file.Truncate(int64(s.size)); terr != nil {
			err = errors.Join(err, terr)
		}
		return fmt.Errorf("map store %s: %w", s.name, err)
	}
	if err := adviseAppends(m); err != nil {
		err = errors.Join(err, m.UnsafeUnmap(), s.file.Truncate(int64(s.size)))
		return fmt.Errorf("advise the mapping of store %s: %w", s.name, err)
	}
	s.data, s.writable = m, true
	return nil
}

// cutSpare ends writes through the mapping and cuts the file back to the
// bytes written, so that a sealed or closed store ends at its last frame.
// The caller syncs afterwards. The mapping stays for reads below size.
func (s *store) cutSpare() error {
	if !s.writable {
		return nil
	}
	s.writable = false
	if err := s.file.Truncate(int64(s.size)); err != nil {
		return fmt.Errorf("cut preallocated tail of %s: %w", s.name, err)
	}
	return nil
}

func (s *store) unmap() error {
	if s.data == nil {
		return nil
	}
	err := s.data.UnsafeUnmap()
	s.data = nil
	if err != nil {
		return fmt.Errorf("unmap store %s: %w", s.name, err)
	}
	return nil
}

func openStore(name string) (*store, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat store %s: %w", name, err)
	}
	return &store{file: f, name: name, size: uint64(fi.Size())}, nil
}

// write appends already framed records with a single copy into the
// mapping or a single write, so that a batch reaches the file whole or not
// at all as far as the log is concerned: on a failed copy its bytes are
// zeroed again, on a short or failed write the file is cut back to its
// previous size. Either way the bytes are in the kernel's page cache when
// write returns, so they survive a crash of the process.
func (s *store) write(frames []byte) error {
	if end := s.size + uint64(len(frames)); s.writable && end <= uint64(len(s.data)) {
		dst := s.data[s.size:end]
		if err := writeMapped(dst, frames); err != nil {
			if zerr := zeroMapped(dst); zerr != nil {
				err = errors.Join(err, zerr)
			}
			return fmt.Errorf("write %s at %d: %w", s.name, s.size, err)
		}
		s.size = end
		return nil
	}
	if s.writable {
		// Past the mapping (a store grown beyond its preallocation):
		// the write(2) below may cut the file on failure, after which
		// the mapping must not be written.
		s.writable = false
	}
	n, err := writeAt(s.file, frames, int64(s.size))
	if err == nil {
		s.size += uint64(n)
		return nil
	}
	// The os package's errors already name the operation and the file.
	if pe := (*os.PathError)(nil); !errors.As(err, &pe) {
		err = fmt.Errorf("write %s: %w", s.name, err)
	}
	if terr := s.file.Truncate(int64(s.size)); terr != nil {
		return fmt.Errorf("%w (and cutting the partial write failed: %v)", err, terr)
	}
	return err
}

// readAt reads len(b) bytes at pos, from the mapping when it holds them.
func (s *store) readAt(b []byte, pos uint64) error {
	if end := pos + uint64(len(b)); end >= pos && end <= s.size && end <= uint64(len(s.data)) {
		return s.copyMapped(b, pos)
	}
	return s.pread(b, pos)
}

// copyMapped copies from the mapping. A disk that fails to read a mapped
// page raises a fault instead of returning EIO; it is turned into an error
// here rather than left to kill the process.
func (s *store) copyMapped(b []byte, pos uint64) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("read %s at %d: memory fault, the disk may have failed: %v", s.name, pos, r)
		}
	}()
	copy(b, s.data[pos:])
	return nil
}

// copyToMapping copies src into dst, part of the store's mapping. The
// blocks are allocated, so only a failing disk (reading back a page the
// kernel evicted) can fault; the fault is turned into an error rather
// than left to kill the process.
func copyToMapping(dst, src []byte) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("memory fault, the disk may have failed: %v", r)
		}
	}()
	copy(dst, src)
	return nil
}

// zeroMapped gives b, a part of the mapping that a failed write touched,
// its zeros back, so that the free space after the last frame stays free.
func zeroMapped(b []byte) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("zero the failed write: memory fault: %v", r)
		}
	}()
	clear(b)
	return nil
}

func (s *store) pread(b []byte, pos uint64) error {
	if _, err := s.file.ReadAt(b, int64(pos)); err != nil {
		return fmt.Errorf("read %s at %d: %w", s.name, pos, err)
	}
	return nil
}

// frameAt reads and checks the frame that starts at pos, taking its length
// from its header, and returns its payload.
func (s *store) frameAt(pos uint64) ([]byte, error) {
	return frame.ReadAt(storeReader{s}, pos, s.size)
}

// storeReader reads a store through readAt, the mapping when it can, for
// the frame package.
type storeReader struct{ s *store }

func (r storeReader) ReadAt(b []byte, off int64) (int, error) {
	if err := r.s.readAt(b, uint64(off)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// scanStore finds the store's intact frames of complete batches up to the
// first frame that is not intact (see frame.Scan).
func scanStore(s *store) (frame.Scanned, error) {
	sc, err := frame.Scan(s.file, s.size)
	if err != nil {
		return frame.Scanned{}, fmt.Errorf("scan %s: %w", s.name, err)
	}
	return sc, nil
}

// findFree takes the zeros at the end of the store, after from (where its
// intact frames end), for free space: what preallocation left past the
// last write when the process or the machine stopped before the store was
// cut back. size becomes the end of the last byte that is not zero, or
// from, and free counts the rest. Zeros a torn write left are taken too:
// they are no record either way, and cut with the torn tail.
func (s *store) findFree(from uint64) error {
	if from >= s.size {
		return nil
	}
	var last [1]byte
	if err := s.pread(last[:], s.size-1); err != nil {
		return err
	}
	if last[0] != 0 {
		return nil
	}
	buf := make([]byte, 64<<10)
	end := from
	for pos := from; pos < s.size; {
		b := buf[:min(uint64(len(buf)), s.size-pos)]
		if err := s.pread(b, pos); err != nil {
			return err
		}
		if i := lastNonZero(b); i >= 0 {
			end = pos + uint64(i) + 1
		}
		pos += uint64(len(b))
	}
	s.free += s.size - end
	s.size = end
	return nil
}

// lastNonZero returns the index of b's last byte that is not zero, or -1.
func lastNonZero(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return i
		}
	}
	return -1
}

// sync makes the store's written bytes durable.
func (s *store) sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.closed {
		// close synced it.
		return nil
	}
	if err := syncFile(s.file); err != nil {
		return fmt.Errorf("sync %s: %w", s.name, err)
	}
	return nil
}

func (s *store) close() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.cutSpare()
	if serr := fdatasync(s.file); err == nil {
		err = serr
	}
	if uerr := s.unmap(); err == nil {
		err = uerr
	}
	if cerr := s.file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("close %s: %w", s.name, err)
	}
	return nil
}
