package raftlog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"github.com/evlog/evlog/segment"
)

// A snapshot's state, as the FSM persists it and as a stream carries it:
//
//	magic "EVLRAFT1" | length uint32 | snapState, JSON (length bytes)
//
// A persisted snapshot is that alone, with Live set: its records are the
// segment log's own, streamed from it when the snapshot is opened. A
// stream (an install, a restore) has Live unset, and the records of
// [Lowest, Next) follow in the segment/snapshot stream format.
var stateMagic = [8]byte{'E', 'V', 'L', 'R', 'A', 'F', 'T', '1'}

// maxStateBytes bounds a snapState's JSON, against a damaged length.
const maxStateBytes = 1 << 16

// snapState is the state machine at a snapshot, but for its records.
type snapState struct {
	// Index is the Raft index the snapshot was taken at.
	Index uint64 `json:"index"`
	// Next and Lowest bound the records; LastTS is the timestamp of the
	// last applied batch, which the next entries must not go below.
	Next   uint64 `json:"next"`
	Lowest uint64 `json:"lowest"`
	LastTS int64  `json:"last_ts"`
	// Live says the records are not in the stream but in the log.
	Live bool `json:"live"`
}

func (s snapState) encode() []byte {
	js, _ := json.Marshal(s) // a struct of numbers always marshals
	b := append(stateMagic[:0:0], stateMagic[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(js)))
	return append(b, js...)
}

func readState(r io.Reader) (snapState, error) {
	var head [12]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return snapState{}, fmt.Errorf("read snapshot state: %w", err)
	}
	if !bytes.Equal(head[:8], stateMagic[:]) {
		return snapState{}, fmt.Errorf("read snapshot state: magic %q, want %q", head[:8], stateMagic[:])
	}
	n := binary.BigEndian.Uint32(head[8:])
	if n > maxStateBytes {
		return snapState{}, fmt.Errorf("read snapshot state: %d bytes, the limit is %d", n, maxStateBytes)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return snapState{}, fmt.Errorf("read snapshot state: %w", err)
	}
	var s snapState
	if err := json.Unmarshal(js, &s); err != nil {
		return snapState{}, fmt.Errorf("read snapshot state: %w", err)
	}
	if s.Next < s.Lowest {
		return snapState{}, fmt.Errorf("read snapshot state: next offset %d below lowest %d", s.Next, s.Lowest)
	}
	return s, nil
}

// fsmSnapshot is a snapshot being taken: the state's metadata, written
// once the records it covers are durable.
type fsmSnapshot struct {
	f  *fsm
	st snapState
}

// Persist syncs the segment log, so that the snapshot never claims a
// record a crash could take (Raft forgets the entries below it), then
// writes the metadata. It copies no record.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	err := s.f.read(func(seg *segment.Log) error { return seg.Sync() })
	if err == nil {
		_, err = sink.Write(s.st.encode())
	}
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release does nothing: the snapshot holds no resource.
func (s *fsmSnapshot) Release() {}

// runSnapshots takes a snapshot each time the state machine asks for one
// (fsm.wantSnapshot): after a truncate that moved the low-water mark, or
// an install that could not stream the newest snapshot. Without it a
// wiped follower of a quiet log would wait for SnapshotThreshold more
// entries before the leader had a snapshot it could send. Close stops it.
func (l *Log) runSnapshots() {
	for {
		select {
		case <-l.stop:
			return
		case <-l.fsm.snapshotDue:
		}
		err := l.raft.Snapshot().Error()
		if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) && !errors.Is(err, raft.ErrRaftShutdown) {
			l.logger.Warn("snapshot after a truncate", "error", err)
		}
	}
}
