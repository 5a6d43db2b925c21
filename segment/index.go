package segment

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/tysonmote/gommap"
)

// entryWidth is the size of an index entry: the record's offset relative to
// the segment's base (uint32) and its frame's position in the store
// (uint64), both big-endian.
const entryWidth = 12

// index maps relative offsets to store positions through a memory-mapped
// file. While its segment is active the file is grown to its capacity, so
// that an append is a memory write; closing cuts it to the entries used.
// Nothing here is synced for durability: after a crash the index is checked
// against its store and rebuilt from it when they disagree.
type index struct {
	file *os.File
	name string
	mmap gommap.MMap
	// n is the number of entries in use. It changes under the Log's write
	// lock; readers hold its read lock.
	n uint64
}

// openIndex opens or creates an index file without changing its size.
func openIndex(name string) (*index, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	idx := &index{file: f, name: name}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat index %s: %w", name, err)
	}
	if err := idx.mapSize(uint64(fi.Size())); err != nil {
		f.Close()
		return nil, err
	}
	return idx, nil
}

// capacity is the number of entries the mapped file can hold.
func (i *index) capacity() uint64 { return uint64(len(i.mmap)) / entryWidth }

// mapSize maps the file at its size after truncating it to size bytes.
func (i *index) mapSize(size uint64) error {
	if err := i.unmap(); err != nil {
		return err
	}
	size -= size % entryWidth
	if err := resize(i.file, int64(size)); err != nil {
		return fmt.Errorf("resize index %s: %w", i.name, err)
	}
	if size == 0 {
		return nil
	}
	m, err := gommap.Map(i.file.Fd(), gommap.PROT_READ|gommap.PROT_WRITE, gommap.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map index %s: %w", i.name, err)
	}
	i.mmap = m
	return nil
}

func (i *index) unmap() error {
	if i.mmap == nil {
		return nil
	}
	if err := i.mmap.Sync(gommap.MS_SYNC); err != nil {
		return fmt.Errorf("sync index %s: %w", i.name, err)
	}
	if err := i.mmap.UnsafeUnmap(); err != nil {
		return fmt.Errorf("unmap index %s: %w", i.name, err)
	}
	i.mmap = nil
	return nil
}

// entry returns entry k, which must be below capacity.
func (i *index) entry(k uint64) (rel uint32, pos uint64) {
	b := i.mmap[k*entryWidth:]
	return binary.BigEndian.Uint32(b), binary.BigEndian.Uint64(b[4:])
}

// put writes entry k, which must be below capacity.
func (i *index) put(k uint64, rel uint32, pos uint64) {
	b := i.mmap[k*entryWidth:]
	binary.BigEndian.PutUint32(b, rel)
	binary.BigEndian.PutUint64(b[4:], pos)
}

// append adds the next entry; the caller has checked that it fits.
func (i *index) append(pos uint64) {
	i.put(i.n, uint32(i.n), pos)
	i.n++
}

// seal cuts the file to the entries in use, so that a reopen can trust it,
// and makes that durable.
func (i *index) seal() error {
	if err := i.mapSize(i.n * entryWidth); err != nil {
		return err
	}
	if err := fdatasync(i.file); err != nil {
		return fmt.Errorf("sync index %s: %w", i.name, err)
	}
	return nil
}

// release unmaps and closes the file as it is. A segment whose recovery
// refused or failed is released, not closed: sealing would cut the index
// to the entries in use, which recovery never set, and so destroy the
// entries that showed intact records after the damage, letting the next
// open cut them.
func (i *index) release() error {
	err := i.unmap()
	if cerr := i.file.Close(); err == nil {
		err = cerr
	}
	return err
}

func (i *index) close() error {
	err := i.seal()
	if uerr := i.unmap(); err == nil {
		err = uerr
	}
	if cerr := i.file.Close(); err == nil {
		err = cerr
	}
	return err
}
