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
	// MaxPayload is the largest record a frame holds: the top bit of the
	// length is the batch flag.
	MaxPayload = 1<<31 - 1
)

// moreFlag, the top bit of a frame's length field, says that the frame is
// not the last of its batch: more frames of the same write follow.
const moreFlag = 1 << 31

// ErrCorrupt is wrapped by every error that reports a frame that is not
// intact. The segment package returns it as segment.ErrCorrupt.
var ErrCorrupt = errors.New("corrupt record")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Append appends the frame of payload to buf. more says that the frame is
// not the last of its batch. The caller keeps len(payload) within
// MaxPayload.
func Append(buf, payload []byte, more bool) []byte {
	field := lengthField(len(payload), more)
	buf = binary.BigEndian.AppendUint32(buf, field)
	buf = binary.BigEndian.AppendUint32(buf, checksum(payload, field))
	return append(buf, payload...)
}

// SetMore writes the header of b, one whole frame (built by Append, or a
// payload after HeaderSize bytes of room), so that its batch flag is more,
// with the CRC of its payload.
func SetMore(b []byte, more bool) {
	payload := b[HeaderSize:]
	field := lengthField(len(payload), more)
	binary.BigEndian.PutUint32(b, field)
	binary.BigEndian.PutUint32(b[4:], checksum(payload, field))
}

// More reports whether hdr, a frame header, carries the batch flag: more
// frames of its batch follow it.
func More(hdr []byte) bool { return binary.BigEndian.Uint32(hdr)&moreFlag != 0 }

func lengthField(n int, more bool) uint32 {
	field := uint32(n)
	if more {
		field |= moreFlag
	}
	return field
}

// checksum is the CRC of a frame: CRC-32C of the payload, extended over
// the length field when the frame carries the batch flag, so that a flag
// flipped alone fails the check. An unflagged frame's CRC is that of its
// payload alone, as format version 1 wrote every frame.
func checksum(payload []byte, field uint32) uint32 {
	crc := crc32.Checksum(payload, crcTable)
	if field&moreFlag == 0 {
		return crc
	}
	// The four bytes of the field, big-endian, through the table by
	// hand: crc32.Update would move a buffer for them to the heap, an
	// allocation for every flagged frame written or read.
	crc = ^crc
	for shift := 24; shift >= 0; shift -= 8 {
		crc = crcTable[byte(crc)^byte(field>>shift)] ^ crc>>8
	}
	return ^crc
}

// Length returns the payload length that hdr, the header of a frame at pos
// in a store of size bytes, claims, checked against the store: at least
// MinPayload and not running past size. The caller has checked that the
// header itself lies inside the store. A garbage length is rejected here,
// before anything is allocated for it.
func Length(hdr []byte, pos, size uint64) (uint64, error) {
	n := uint64(binary.BigEndian.Uint32(hdr) &^ moreFlag)
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
	field := binary.BigEndian.Uint32(b)
	if n := field &^ moreFlag; uint64(n) != uint64(len(b)-HeaderSize) || n < MinPayload {
		return nil, fmt.Errorf("%w: frame at %d: length %d, want %d", ErrCorrupt, pos, n, len(b)-HeaderSize)
	}
	payload = b[HeaderSize:]
	if checksum(payload, field) != binary.BigEndian.Uint32(b[4:]) {
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

// Scanned is what Scan found in a store.
type Scanned struct {
	// Positions holds the position of every intact frame of every complete
	// batch, up to the first frame that is not intact; End is where the
	// last complete batch ends. Recovery keeps exactly these frames of an
	// active store.
	Positions []uint64
	End       uint64
	// Pending counts the intact frames after End that carry the batch
	// flag: the start of a batch whose last frame is missing, as a crash
	// in the middle of its write leaves it. PendingEnd is where the last
	// of them ends (End when there are none).
	Pending    int
	PendingEnd uint64
}

// Scan reads a store of size bytes from the start and finds its intact
// frames up to the first one that is not (torn, of zero length, running
// past the end or failing its CRC), grouped in batches: a batch is a run of
// flagged frames closed by an unflagged one. The error is for a store that
// cannot be read, not for damage.
func Scan(r io.ReaderAt, size uint64) (Scanned, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, int64(size)), 1<<20)
	var sc Scanned
	var b []byte
	var pending []uint64
	pos := uint64(0)
	for {
		var hdr [HeaderSize]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			return Scanned{}, err
		}
		n, err := Length(hdr[:], pos, size)
		if err != nil {
			break
		}
		if uint64(cap(b)) < HeaderSize+n {
			b = make([]byte, HeaderSize+n)
		}
		b = append(b[:0], hdr[:]...)[:HeaderSize+n]
		if _, err := io.ReadFull(br, b[HeaderSize:]); err != nil {
			return Scanned{}, err
		}
		if _, err := Check(b, pos); err != nil {
			break
		}
		pending = append(pending, pos)
		pos += HeaderSize + n
		if !More(hdr[:]) {
			sc.Positions = append(sc.Positions, pending...)
			sc.End, pending = pos, pending[:0]
		}
	}
	sc.Pending, sc.PendingEnd = len(pending), pos
	return sc, nil
}
