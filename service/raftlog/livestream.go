package raftlog

import (
	"fmt"
	"io"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/snapshot"
)

// openLive returns the stream of a persisted snapshot's state st: st,
// then the records [st.Lowest, st.Next) in the segment/snapshot format,
// read from the live log a batch at a time by a goroutine the returned
// ReadCloser owns. Those records are immutable, so appends go on
// meanwhile. It also returns the stream's length, which Raft sends ahead
// of it, counted by a scan of the range.
//
// Once a truncate has moved the log's lowest offset past st.Lowest, the
// snapshot's state can no longer be streamed: a follower restored from
// fewer records would rebuild fewer append ids than the snapshot's state
// held, and decide the entries after it otherwise (the truncate's entry
// makes every node forget those ids only when it applies). openLive
// refuses, and asks for a new snapshot, which Raft sends on its next try.
func (f *fsm) openLive(st snapState) (io.ReadCloser, int64, error) {
	var size int64
	err := f.read(func(seg *segment.Log) error {
		low, err := seg.LowestOffset()
		if err != nil {
			return err
		}
		if next := seg.NextOffset(); st.Next > next {
			return fmt.Errorf("snapshot up to offset %d, the log holds up to %d", st.Next, next)
		}
		if low != st.Lowest {
			f.wantSnapshot()
			return fmt.Errorf("the log was truncated to %d since the snapshot, which starts at %d; a new snapshot is due", low, st.Lowest)
		}
		size, err = streamSize(seg, low, st.Next)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	st.Live = false
	head := st.encode()
	pr, pw := io.Pipe()
	lr := &liveReader{pr: pr, done: make(chan struct{})}
	go func() {
		defer close(lr.done)
		_, err := pw.Write(head)
		if err == nil {
			err = f.read(func(seg *segment.Log) error {
				h := snapshot.Header{LogID: snapshot.LogID(seg.ID()), First: st.Lowest, Next: st.Next}
				_, err := snapshot.WriteLog(pw, seg, h)
				return err
			})
		}
		pw.CloseWithError(err) // nil: the reader gets io.EOF
	}()
	return lr, int64(len(head)) + size, nil
}

// streamSize returns the length of the snapshot stream of [from, next) of
// seg. A snapshot frame is as long as a store frame, but the batch flags
// are the store's own: the records are read to count them.
func streamSize(seg *segment.Log, from, next uint64) (int64, error) {
	n := int64(snapshot.HeaderSize + snapshot.TrailerSize)
	err := snapshot.ScanLog(seg, from, next, func(raw []byte, _ *messages.Record) error {
		n += snapshot.FrameHeaderSize + int64(len(raw))
		return nil
	})
	return n, err
}

// liveReader is the reading end of a live snapshot stream; Close stops
// the goroutine that writes it and waits for it.
type liveReader struct {
	pr   *io.PipeReader
	done chan struct{}
}

func (r *liveReader) Read(p []byte) (int, error) { return r.pr.Read(p) }

// Close stops the stream and returns once its goroutine has.
func (r *liveReader) Close() error {
	err := r.pr.Close()
	<-r.done
	return err
}
