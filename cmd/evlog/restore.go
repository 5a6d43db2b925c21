package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/snapshot"
)

// Limits of one append while restoring: a batch is one write.
const (
	restoreBatchRecords = 512
	restoreBatchBytes   = 4 << 20
)

func restoreCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog restore", flag.ContinueOnError)
	in := fs.String("in", "", "snapshot file to restore")
	dir := fs.String("dir", "", "data directory to restore into")
	force := fs.Bool("force", false, "replace the log the directory holds")
	appendInc := fs.Bool("append", false, "append an increment to the log the directory holds")
	return &ffcli.Command{
		Name:       "restore",
		ShortUsage: "evlog restore --in FILE --dir DIR [--force] [--append]",
		ShortHelp:  "restore a log from a snapshot file, offline",
		LongHelp: "Restore the records of a snapshot file into a log directory, at the\n" +
			"offsets and with the timestamps they had; the next append continues after\n" +
			"the last one. The whole snapshot is verified before anything is written.\n\n" +
			"The directory must be absent or empty. --force replaces the log a\n" +
			"directory holds (never a directory holding anything else, nor one a\n" +
			"running evlog has open). --append adds an increment to the log the\n" +
			"directory holds, when the increment starts at the log's next offset.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if err := noArgs("restore", args); err != nil {
				return err
			}
			switch {
			case *in == "" || *dir == "":
				return usageError{errors.New("restore needs --in FILE and --dir DIR")}
			case *force && *appendInc:
				return usageError{errors.New("--force and --append exclude each other")}
			}
			return restore(ctx, restoreJob{in: *in, dir: *dir, force: *force, append: *appendInc}, stdout, stderr)
		},
	}
}

// restoreJob is what evlog restore was asked to do.
type restoreJob struct {
	in, dir       string
	force, append bool
}

func restore(ctx context.Context, job restoreJob, stdout, stderr io.Writer) error {
	start := time.Now()
	f, err := os.Open(job.in)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	h, err := verifySnapshot(ctx, f, fi.Size(), stderr)
	if err != nil {
		return fmt.Errorf("restore: %s: %w", job.in, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	l, cleanup, err := openTarget(job, h)
	if err != nil {
		return err
	}
	n, err := applySnapshot(ctx, l, f, fi.Size(), stderr)
	if err == nil {
		err = l.Close()
	}
	if err != nil {
		return errors.Join(fmt.Errorf("restore into %s: %w", job.dir, err), cleanup(l))
	}
	elapsed := time.Since(start)
	_, err = fmt.Fprintf(stdout, "restored %d records (%s), %d bytes, in %s; the log's next offset is %d\n",
		n, snapshotRange(h), fi.Size(), elapsed.Round(time.Millisecond), h.Next)
	return err
}

// snapshotRange says which offsets h holds, as offsetRange does, or that
// it holds none.
func snapshotRange(h snapshot.Header) string {
	if h.Count() == 0 {
		return fmt.Sprintf("none, at offset %d", h.First)
	}
	return offsetRange(h.First, h.Next-1)
}

// verifySnapshot reads the whole snapshot r of size bytes and checks it,
// so that a damaged one is refused before the log is touched.
func verifySnapshot(ctx context.Context, r io.Reader, size int64, stderr io.Writer) (snapshot.Header, error) {
	p := newProgress(stderr)
	p.doing, p.did = "verifying", "verified"
	defer p.finish()
	sr, err := snapshot.NewReader(r, snapshot.WithMaxRecordBytes(snapshot.MaxRecordBytes))
	if err != nil {
		return snapshot.Header{}, err
	}
	for i := 0; ; i++ {
		if i%restoreBatchRecords == 0 {
			if err := ctx.Err(); err != nil {
				return snapshot.Header{}, err
			}
			p.update(sr.Pos(), size)
		}
		if _, _, err := sr.NextRaw(); errors.Is(err, io.EOF) {
			p.update(size, size)
			return sr.Header(), nil
		} else if err != nil {
			return snapshot.Header{}, err
		}
	}
}

// openTarget opens the log job restores into, ready for the first record
// of h, and returns how to undo that after a failure.
func openTarget(job restoreJob, h snapshot.Header) (*segment.Log, func(*segment.Log) error, error) {
	empty, existed, err := emptyDir(job.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("restore: %w", err)
	}
	var c segment.Config
	c.Segment.InitialOffset = h.First
	// A restored log is the same log: it keeps the snapshot's id.
	c.Segment.ID = h.LogID
	// Syncing each batch would only slow the restore: Close syncs it all.
	c.Sync.Mode = segment.SyncNever
	if empty && !job.append {
		l, err := segment.NewLog(job.dir, c)
		if err != nil {
			return nil, nil, fmt.Errorf("restore: %w", err)
		}
		return l, func(l *segment.Log) error { return undoFresh(l, job.dir, existed) }, nil
	}
	switch holds, err := holdsLog(job.dir); {
	case err != nil:
		return nil, nil, fmt.Errorf("restore: %w", err)
	case !holds && job.append:
		return nil, nil, fmt.Errorf("restore --append: %s holds no log to append to", job.dir)
	case !holds && job.force:
		return nil, nil, fmt.Errorf("restore --force: %s holds other files than a log; --force replaces only a log", job.dir)
	case !job.force && !job.append:
		return nil, nil, fmt.Errorf("restore: %s is not empty: restore into an empty directory, replace its log with --force or append an increment with --append", job.dir)
	}
	l, err := segment.NewLog(job.dir, c)
	if errors.Is(err, segment.ErrLocked) {
		return nil, nil, fmt.Errorf("restore: %w: stop the evlog that has it open first", err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("restore: open the log in %s: %w", job.dir, err)
	}
	if job.force {
		// Reset starts the log again at Config InitialOffset, h.First.
		if err := l.Reset(); err != nil {
			l.Close()
			return nil, nil, fmt.Errorf("restore --force: %w", err)
		}
	} else if next := l.NextOffset(); next != h.First {
		l.Close()
		return nil, nil, fmt.Errorf("restore --append: the increment starts at offset %d but the log's next offset is %d", h.First, next)
	} else if id := h.LogID; id != (segment.LogID{}) && id != l.ID() {
		l.Close()
		return nil, nil, fmt.Errorf("restore --append: the increment is of log %s but %s holds log %s", id, job.dir, l.ID())
	}
	return l, func(l *segment.Log) error {
		// Appended records stay: they are the snapshot's, at their
		// offsets, and the log is whole up to where they end.
		next := l.NextOffset()
		if err := l.Close(); err != nil {
			return err
		}
		return fmt.Errorf("the log in %s keeps what was restored; its next offset is %d", job.dir, next)
	}, nil
}

// undoFresh removes what a failed restore wrote into a directory that was
// empty (or absent, existed false) before it.
func undoFresh(l *segment.Log, dir string, existed bool) error {
	l.Close()
	if !existed {
		return os.RemoveAll(dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
	}
	return errors.Join(errs...)
}

// emptyDir says whether dir is absent or empty, and whether it exists.
func emptyDir(dir string) (empty, exists bool, err error) {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, false, nil
	}
	if err != nil {
		return false, false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, true, nil
	}
	return false, true, err
}

// holdsLog says whether dir holds the segments of a log.
func holdsLog(dir string) (bool, error) {
	stores, err := filepath.Glob(filepath.Join(dir, "*.store"))
	return len(stores) > 0, err
}

// applySnapshot appends the records of the snapshot r of size bytes to l,
// which is empty or ends where the snapshot starts, and returns how many
// it appended.
func applySnapshot(ctx context.Context, l *segment.Log, r io.Reader, size int64, stderr io.Writer) (uint64, error) {
	p := newProgress(stderr)
	p.doing, p.did = "restoring", "restored"
	defer p.finish()
	sr, err := snapshot.NewReader(r, snapshot.WithMaxRecordBytes(snapshot.MaxRecordBytes))
	if err != nil {
		return 0, err
	}
	var (
		batch []*messages.Record
		bytes int
		n     uint64
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		want := batch[0].Offset
		first, err := l.AppendUnsynced(batch)
		if err == nil && first != want {
			err = fmt.Errorf("record %d was appended at offset %d", want, first)
		}
		n += uint64(len(batch))
		batch, bytes = batch[:0], 0
		p.update(sr.Pos(), size)
		return err
	}
	for {
		rec, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return n, errors.Join(flush(), l.Sync())
		}
		if err != nil {
			return n, err
		}
		batch = append(batch, rec)
		bytes += len(rec.Value) + len(rec.Key) + 64
		if len(batch) >= restoreBatchRecords || bytes >= restoreBatchBytes {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
}
