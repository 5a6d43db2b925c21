package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/evlog/evlog/segment/snapshot"
	"github.com/evlog/evlog/service/client"
)

// snapshotWriteBuffer batches the chunks into large file writes.
const snapshotWriteBuffer = 1 << 20

func snapshotCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog snapshot", flag.ContinueOnError)
	cf := addClientFlags(fs)
	out := fs.String("out", "", "file to write the snapshot to; it must not exist")
	from := fs.Uint64("from", 0, "take only the records at or after this offset (default the lowest)")
	return &ffcli.Command{
		Name:       "snapshot",
		ShortUsage: "evlog snapshot [client flags] --out FILE [--from OFFSET]",
		ShortHelp:  "take a snapshot of a running log into a file",
		LongHelp: "Stream a snapshot of the log's records, as they stand when it starts,\n" +
			"from the service into FILE, while the log goes on taking appends. The\n" +
			"snapshot is written to FILE.tmp, verified, and only then renamed to FILE.\n" +
			"evlog restore --in FILE restores it; with --from, the snapshot is an\n" +
			"increment, the records at or after OFFSET, which evlog restore --append\n" +
			"adds to a log that ends there.\n\n" +
			"--timeout bounds the wait for each chunk, not the whole snapshot.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if err := noArgs("snapshot", args); err != nil {
				return err
			}
			if *out == "" {
				return usageError{errors.New("snapshot needs --out FILE")}
			}
			nc, _, err := cf.connect()
			if err != nil {
				return err
			}
			defer nc.Close()
			// A client of its own, whose timeout is the wait for each
			// chunk: the snapshot as a whole may take far longer.
			c := client.New(nc, client.WithPrefix(*cf.prefix), client.WithTimeout(*cf.timeout))
			return takeSnapshot(ctx, cf, c, snapshotJob{out: *out, from: *from}, stdout, stderr)
		},
	}
}

// snapshotJob is what evlog snapshot was asked to do.
type snapshotJob struct {
	out  string
	from uint64
}

// snapshotReport is the summary evlog snapshot prints, in JSON with --json.
type snapshotReport struct {
	File    string  `json:"file"`
	First   uint64  `json:"first_offset"`
	Next    uint64  `json:"next_offset"`
	Records uint64  `json:"records"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

func takeSnapshot(ctx context.Context, cf clientFlags, c *client.Client, job snapshotJob, stdout, stderr io.Writer) error {
	start := time.Now()
	if _, err := os.Lstat(job.out); err == nil {
		return fmt.Errorf("snapshot: %s exists; give another --out or remove it", job.out)
	}
	tmp := job.out + ".tmp"
	sum, err := receiveSnapshot(ctx, cf, c, job, tmp, stderr)
	if err == nil {
		err = checkSnapshotFile(ctx, tmp, sum, stderr)
	}
	if err == nil {
		err = os.Rename(tmp, job.out)
	}
	if err == nil {
		err = syncDir(filepath.Dir(job.out))
	}
	if err != nil {
		return errors.Join(fmt.Errorf("snapshot: %w", err), removeIfExists(tmp))
	}
	r := snapshotReport{File: job.out, First: sum.First, Next: sum.Next, Records: sum.Records(), Bytes: sum.Bytes, Seconds: time.Since(start).Seconds()}
	if *cf.json {
		return json.NewEncoder(stdout).Encode(r)
	}
	_, err = fmt.Fprintf(stdout, "snapshot of %d records (%s), %d bytes, in %s (%s/s), to %s\n",
		r.Records, snapshotRange(snapshot.Header{First: r.First, Next: r.Next}), r.Bytes,
		time.Since(start).Round(time.Millisecond), humanBytes(float64(r.Bytes)/max(r.Seconds, 1e-9)), r.File)
	return err
}

// receiveSnapshot streams the snapshot job asks for into the file tmp,
// synced, with progress on stderr.
func receiveSnapshot(ctx context.Context, cf clientFlags, c *client.Client, job snapshotJob, tmp string, stderr io.Writer) (client.SnapshotSummary, error) {
	est := estimateSnapshot(ctx, cf, c, job.from)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return client.SnapshotSummary{}, err
	}
	defer f.Close()
	p := newProgress(stderr)
	p.doing, p.did = "receiving", "received"
	bw := bufio.NewWriterSize(f, snapshotWriteBuffer)
	sum, err := c.Snapshot(ctx, bw, job.from, client.OnSnapshotProgress(func(s client.SnapshotSummary) {
		p.update(s.Bytes, max(est, s.Bytes))
	}))
	p.finish()
	if err != nil {
		return sum, err
	}
	if err := bw.Flush(); err != nil {
		return sum, err
	}
	if err := f.Sync(); err != nil {
		return sum, err
	}
	return sum, f.Close()
}

// estimateSnapshot guesses the bytes of a snapshot from offset from, for
// the progress: the log's bytes, in proportion to the records taken. It is
// 0, no progress shown, when the service does not say.
func estimateSnapshot(ctx context.Context, cf clientFlags, c *client.Client, from uint64) int64 {
	rctx, cancel := cf.ctx(ctx)
	defer cancel()
	info, err := c.Info(rctx)
	if err != nil || info.NextOffset <= info.LowestOffset {
		return 0
	}
	first := max(from, info.LowestOffset)
	if first >= info.NextOffset {
		return 0
	}
	share := float64(info.NextOffset-first) / float64(info.NextOffset-info.LowestOffset)
	return int64(float64(info.Bytes)*share) + snapshot.HeaderSize + snapshot.TrailerSize
}

// checkSnapshotFile verifies the snapshot in the file name with
// segment/snapshot's Reader, and that it is the range the service
// announced.
func checkSnapshotFile(ctx context.Context, name string, sum client.SnapshotSummary, stderr io.Writer) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := verifySnapshot(ctx, f, sum.Bytes, stderr)
	if err != nil {
		return fmt.Errorf("verify %s: %w", name, err)
	}
	if h.First != sum.First || h.Next != sum.Next {
		return fmt.Errorf("verify %s: it holds [%d, %d), the service announced [%d, %d)", name, h.First, h.Next, sum.First, sum.Next)
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeIfExists removes name, which may not exist.
func removeIfExists(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
