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

// writeAt and syncFile are how a store writes and syncs its file. Tests
// replace them to fail as a full or broken disk would.
var (
	writeAt  = (*os.File).WriteAt
	syncFile = fdatasync
)

// store is the file of framed records of one segment. Writes happen under
// the Log's write lock; reads use ReadAt and need no lock of their own.
type store struct {
	file *os.File
	name string
	// size is the number of bytes written. It changes only under the Log's
	// write lock, and readers hold its read lock.
	size uint64

	// data maps the file read-only, usually past its end so that it need
	// not be remapped as the store grows: reads copy from it instead of
	// paying a pread each. Only bytes below size are ever touched, since a
	// page past the end of the file faults.
	data gommap.MMap

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

// write appends already framed records with a single write, so that a batch
// reaches the file whole or not at all as far as the log is concerned: on a
// short or failed write the file is cut back to its previous size.
func (s *store) write(frames []byte) error {
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
	err := fdatasync(s.file)
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
