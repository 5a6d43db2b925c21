package raftlog

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/evlog/evlog/messages"
)

// IndexHeader is the record header in which the Log stores, on the last
// record of each batch it applies, the index of the Raft entry the batch
// came from, so that at open it knows how far it got. It is the Log's to
// write: an append that sets it is refused.
const IndexHeader = messages.RaftIndexHeader

// Operations of an entry.
const (
	opAppend   = 1
	opTruncate = 2
)

// entry is the command of a Raft log entry, in msgpack. See
// docs/replication.md for what each field means.
type entry struct {
	Op int `msgpack:"op"`
	// TS is the proposer's clock, unix nanoseconds; the FSM never lets it
	// go back.
	TS int64 `msgpack:"ts"`
	// Origin and Seq name the proposal, for the proposer to find the
	// appends waiting for it.
	Origin  uint64        `msgpack:"origin"`
	Seq     uint64        `msgpack:"seq"`
	Appends []entryAppend `msgpack:"appends,omitempty"`
	Lowest  uint64        `msgpack:"lowest,omitempty"`
}

// entryAppend is one append request in an entry.
type entryAppend struct {
	ID       string             `msgpack:"id,omitempty"`
	Expected *uint64            `msgpack:"expected,omitempty"`
	Records  []*messages.Record `msgpack:"records"`
}

func encodeEntry(e *entry) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("encode entry: %w", err)
	}
	return buf.Bytes(), nil
}

func decodeEntry(b []byte) (*entry, error) {
	var e entry
	if err := msgpack.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode entry: %w", err)
	}
	if e.Op != opAppend && e.Op != opTruncate {
		return nil, fmt.Errorf("decode entry: unknown op %d", e.Op)
	}
	return &e, nil
}

// stampIndex stores the Raft index of the entry and the timestamp it was
// applied with on r, the last record of the entry's batch, as
// "INDEX,TS".
func stampIndex(r *messages.Record, index uint64, ts int64) {
	if r.Headers == nil {
		r.Headers = make(map[string]string, 1)
	}
	r.Headers[IndexHeader] = strconv.FormatUint(index, 10) + "," + strconv.FormatInt(ts, 10)
}

// stampedIndex returns the Raft index and timestamp stored on r, if any.
func stampedIndex(r *messages.Record) (index uint64, ts int64, ok bool, err error) {
	v, ok := r.Headers[IndexHeader]
	if !ok {
		return 0, 0, false, nil
	}
	is, tss, found := strings.Cut(v, ",")
	index, err = strconv.ParseUint(is, 10, 64)
	if err == nil && found {
		ts, err = strconv.ParseInt(tss, 10, 64)
	}
	if err != nil || !found {
		return 0, 0, false, fmt.Errorf("record %d: header %s is %q, not INDEX,TS", r.Offset, IndexHeader, v)
	}
	return index, ts, true, nil
}
