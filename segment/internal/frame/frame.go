package frame

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

const (
	// HeaderSize is the length (uint32) and CRC-32C (uint32) before each
	// record in a store.
	HeaderSize = 8
	// MinPayload is the smallest encoded record. A frame claiming less is
	// not a record: this rejects the zero-filled tail a file system may
	// leave after a crash, whose zero length and zero CRC would otherwise
	// check out (CRC-32C of nothing is zero).
	MinPayload = 1
)

// ErrCorrupt is wrapped by every error that reports a frame that is not
// intact. The segment package returns it as segment.ErrCorrupt.
var ErrCorrupt = errors.New("corrupt record")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Append appends the frame of payload to buf.
func Append(buf, payload []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(payload)))
	buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(payload, crcTable))
	return append(buf, payload...)
}

// Length returns the payload length that hdr, the header of a frame at pos
// in a store of size bytes, claims, checked against the store: at least
// MinPayload and not running past size. The caller has checked that the
// header itself lies inside the store. A garbage length is rejected here,
// before anything is allocated for it.
func Length(hdr []byte, pos, size uint64) (uint64, error) {
	n := uint64(binary.BigEndian.Uint32(hdr))
	if n < MinPayload {
		return 0, fmt.Errorf("%w: frame at %d: length 0", ErrCorrupt, pos)
	}
	if n > size-pos-HeaderSize {
		return 0, fmt.Errorf("%w: frame at %d: length %d runs past the end of the store (%d bytes)", ErrCorrupt, pos, n, size)
	}
	return n, nil
}

// Check verifies that b holds exactly one intact frame and returns its
// payload. pos is b's position in the store, for error messages. It is the
// one place a frame's length and CRC are compared with its bytes.
func Check(b []byte, pos uint64) (payload []byte, err error) {
	if len(b) < HeaderSize {
		return nil, fmt.Errorf("%w: frame at %d: %d bytes, shorter than its header", ErrCorrupt, pos, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) != uint64(len(b)-HeaderSize) || n < MinPayload {
		return nil, fmt.Errorf("%w: frame at %d: length %d, want %d", ErrCorrupt, pos, n, len(b)-HeaderSize)
	}
	payload = b[HeaderSize:]
	if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(b[4:]) {
		return nil, fmt.Errorf("%w: frame at %d: checksum mismatch", ErrCorrupt, pos)
	}
	return payload, nil
}

// ReadAt reads and checks the frame that starts at pos in a store of size
// bytes read through r, taking its length from its header, and returns its
// payload.
func ReadAt(r io.ReaderAt, pos, size uint64) ([]byte, error) {
	if pos > size || size-pos < HeaderSize {
		return nil, fmt.Errorf("%w: frame at %d: the store ends at %d, before the frame's header", ErrCorrupt, pos, size)
	}
	var hdr [HeaderSize]byte
	if _, err := r.ReadAt(hdr[:], int64(pos)); err != nil {
		return nil, err
	}
	n, err := Length(hdr[:], pos, size)
	if err != nil {
		return nil, err
	}
	b := make([]byte, HeaderSize+n)
	if _, err := r.ReadAt(b, int64(pos)); err != nil {
		return nil, err
	}
	return Check(b, pos)
}

// Scan reads a store of size bytes from the start and returns the position
// of every intact frame up to the first one that is not (torn, of zero
// length, running past the end or failing its CRC), and the end of the last
// intact frame: recovery keeps exactly these frames of an active store. The
// error is for a store that cannot be read, not for damage.
func Scan(r io.ReaderAt, size uint64) (positions []uint64, end uint64, err error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, int64(size)), 1<<20)
	var b []byte
	for {
		var hdr [HeaderSize]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return positions, end, nil
			}
			return nil, 0, err
		}
		n, err := Length(hdr[:], end, size)
		if err != nil {
			return positions, end, nil
		}
		if uint64(cap(b)) < HeaderSize+n {
			b = make([]byte, HeaderSize+n)
		}
		b = append(b[:0], hdr[:]...)[:HeaderSize+n]
		if _, err := io.ReadFull(br, b[HeaderSize:]); err != nil {
			return nil, 0, err
		}
		if _, err := Check(b, end); err != nil {
			return positions, end, nil
		}
		positions = append(positions, end)
		end += HeaderSize + n
	}
}
