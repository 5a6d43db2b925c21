package raftlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Files of a snapshot, in a directory of its own named by its id.
const (
	metaFile  = "meta.json" // raft.SnapshotMeta
	stateFile = "state"     // what the sink was given: a snapState, maybe records
	tmpSuffix = ".tmp"
)

// snapStore is Raft's snapshot store. What the FSM persists is metadata
// only: opening such a snapshot streams the records from the live log
// (live). What a leader sends in an install is the whole stream, kept as
// it came, for the FSM to restore from. It keeps the retain newest
// snapshots.
type snapStore struct {
	dir    string
	retain int
	// live returns a stream of the state st, its records read from the
	// log, and the stream's length.
	live func(st snapState) (io.ReadCloser, int64, error)

	// mu serialises the changes to dir.
	mu sync.Mutex
}

var _ raft.SnapshotStore = (*snapStore)(nil)

func newSnapStore(dir string, retain int, live func(snapState) (io.ReadCloser, int64, error)) (*snapStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), tmpSuffix) {
			// A snapshot a crash interrupted.
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("snapshot store: %w", err)
			}
		}
	}
	return &snapStore{dir: dir, retain: retain, live: live}, nil
}

// Create starts a snapshot; its sink keeps what it is given.
func (s *snapStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	id := fmt.Sprintf("%020d-%020d-%d", term, index, time.Now().UnixMilli())
	tmp := filepath.Join(s.dir, id+tmpSuffix)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("create snapshot: %w", err)
	}
	f, err := os.Create(filepath.Join(tmp, stateFile))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("create snapshot: %w", err), os.RemoveAll(tmp))
	}
	meta := raft.SnapshotMeta{
		Version: version, ID: id, Index: index, Term: term,
		Configuration: configuration, ConfigurationIndex: configurationIndex,
	}
	return &snapSink{store: s, meta: meta, tmp: tmp, f: f}, nil
}

// List returns the snapshots, newest first.
func (s *snapStore) List() ([]*raft.SnapshotMeta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	metas, err := s.list()
	if err != nil {
		return nil, err
	}
	return metas[:min(len(metas), s.retain)], nil
}

func (s *snapStore) list() ([]*raft.SnapshotMeta, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var metas []*raft.SnapshotMeta
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), tmpSuffix) {
			continue
		}
		m, err := readMeta(filepath.Join(s.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		metas = append(metas, m)
	}
	slices.SortFunc(metas, func(a, b *raft.SnapshotMeta) int {
		if a.Term != b.Term {
			return cmpUint(b.Term, a.Term)
		}
		if a.Index != b.Index {
			return cmpUint(b.Index, a.Index)
		}
		return strings.Compare(b.ID, a.ID)
	})
	return metas, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func readMeta(dir string) (*raft.SnapshotMeta, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, fmt.Errorf("read snapshot meta: %w", err)
	}
	var m raft.SnapshotMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read snapshot meta %s: %w", dir, err)
	}
	return &m, nil
}

// Open returns the snapshot id as a stream: the stored one, or, for a
// persisted one, its state followed by the records read from the live log.
func (s *snapStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	dir := filepath.Join(s.dir, id)
	meta, err := readMeta(dir)
	if err != nil {
		return nil, nil, err
	}
	st, err := s.state(id)
	if err != nil {
		return nil, nil, err
	}
	if !st.Live {
		f, err := os.Open(filepath.Join(dir, stateFile))
		if err != nil {
			return nil, nil, fmt.Errorf("open snapshot: %w", err)
		}
		return meta, f, nil
	}
	st.Index = meta.Index
	rc, size, err := s.live(st)
	if err != nil {
		return nil, nil, fmt.Errorf("open snapshot %s: %w", id, err)
	}
	meta.Size = size
	return meta, rc, nil
}

// state reads the snapState at the start of snapshot id.
func (s *snapStore) state(id string) (snapState, error) {
	f, err := os.Open(filepath.Join(s.dir, id, stateFile))
	if err != nil {
		return snapState{}, fmt.Errorf("open snapshot: %w", err)
	}
	defer f.Close()
	return readState(f)
}

// keepStateOnly replaces the stream of each received snapshot at st's
// Raft index, whose records the log now holds, with its state, marked
// live: a received install costs a full copy on disk only until it has
// been restored.
func (s *snapStore) keepStateOnly(st snapState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	metas, err := s.list()
	if err != nil {
		return err
	}
	st.Live = true
	for _, m := range metas {
		if m.Index != st.Index {
			continue
		}
		if cur, err := s.state(m.ID); err != nil || cur.Live {
			continue
		}
		if err := writeFileAtomic(filepath.Join(s.dir, m.ID), stateFile, st.encode()); err != nil {
			return err
		}
	}
	return nil
}

// reap deletes all but the retain newest snapshots.
func (s *snapStore) reap() error {
	metas, err := s.list()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range metas[min(len(metas), s.retain):] {
		errs = append(errs, os.RemoveAll(filepath.Join(s.dir, m.ID)))
	}
	return errors.Join(errs...)
}

// snapSink writes a snapshot into its temporary directory, which Close
// renames into place.
type snapSink struct {
	store  *snapStore
	meta   raft.SnapshotMeta
	tmp    string
	f      *os.File
	closed bool
}

// ID returns the snapshot's id.
func (k *snapSink) ID() string { return k.meta.ID }

// Write appends p to the snapshot's state file.
func (k *snapSink) Write(p []byte) (int, error) {
	n, err := k.f.Write(p)
	k.meta.Size += int64(n)
	return n, err
}

// Close makes the snapshot durable and listed, and reaps old ones.
func (k *snapSink) Close() error {
	if k.closed {
		return nil
	}
	k.closed = true
	err := k.f.Sync()
	if cerr := k.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		var b []byte
		b, err = json.Marshal(k.meta)
		if err == nil {
			err = writeFileAtomic(k.tmp, metaFile, b)
		}
	}
	k.store.mu.Lock()
	defer k.store.mu.Unlock()
	if err == nil {
		err = os.Rename(k.tmp, filepath.Join(k.store.dir, k.meta.ID))
	}
	if err == nil {
		err = syncDir(k.store.dir)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("close snapshot: %w", err), os.RemoveAll(k.tmp))
	}
	return k.store.reap()
}

// Cancel discards the snapshot.
func (k *snapSink) Cancel() error {
	if k.closed {
		return nil
	}
	k.closed = true
	return errors.Join(k.f.Close(), os.RemoveAll(k.tmp))
}
