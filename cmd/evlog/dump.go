package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/snapshot"
)

func dumpCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog dump", flag.ContinueOnError)
	dir := fs.String("dir", "./data", "data directory of the log")
	from := fs.String("from", "", "first offset to print (default: the lowest)")
	maxRecords := fs.Uint64("max", 0, "print at most N records (default: all)")
	asJSON := fs.Bool("json", false, "print each record as the protocol's JSON form, one object a line")
	return &ffcli.Command{
		Name:       "dump",
		ShortUsage: "evlog dump [--dir DIR] [--from N] [--max N] [--json]",
		ShortHelp:  "print the records of a stopped log's directory",
		LongHelp: "Print the records of a log directory that no evlog process has open,\n" +
			"from --from (default the lowest offset) to the end or --max records.\n" +
			"Text output is what evlog read prints: offset, timestamp, key=KEY,\n" +
			"NAME=VALUE for each header, value, tab-separated. --json prints each\n" +
			"stored record as evlog decode does: offset and timestamp (unix\n" +
			"nanoseconds) as numbers, bytes as text when they are valid UTF-8 and\n" +
			"base64 under a key ending in _base64 otherwise. The directory is\n" +
			"opened as a restart would open it, so a torn tail left by a crash is cut.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if err := noArgs("dump", args); err != nil {
				return err
			}
			var start *uint64
			if *from != "" {
				n, err := parseOffset(*from)
				if err != nil {
					return err
				}
				start = &n
			}
			return dump(ctx, *dir, start, *maxRecords, *asJSON, stdout, stderr)
		},
	}
}

// parseOffset parses --from, a number.
func parseOffset(s string) (uint64, error) {
	var n uint64
	if _, err := fmt.Sscan(s, &n); err != nil || fmt.Sprint(n) != s {
		return 0, usageError{fmt.Errorf("--from wants an offset, got %q", s)}
	}
	return n, nil
}

// dump prints up to maxRecords records (all when 0) of the log in dir
// from offset *from, or from its lowest offset when from is nil.
func dump(ctx context.Context, dir string, from *uint64, maxRecords uint64, asJSON bool, stdout, stderr io.Writer) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return usageError{fmt.Errorf("--dir %s: %w", dir, err)}
	}
	// NewLog would create a log in a directory that holds none.
	if holds, err := holdsLog(dir); err != nil || !holds {
		return errors.Join(fmt.Errorf("dump: %s holds no log", dir), err)
	}
	var c segment.Config
	c.Sync.Mode = segment.SyncNever
	l, err := segment.NewLog(dir, c)
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	defer l.Close()
	lowest, next := l.Stats().LowestOffset, l.NextOffset()
	first := lowest
	if from != nil {
		first = *from
	}
	if first < lowest || first > next {
		return fmt.Errorf("dump: %w: --from %d, the log holds offsets %d to %d", segment.ErrOffsetOutOfRange, first, lowest, next)
	}
	end := next
	if maxRecords > 0 && maxRecords < next-first {
		end = first + maxRecords
	}
	w := bufio.NewWriter(stdout)
	p := printer{w: w}
	err = snapshot.ScanLog(l, first, end, func(raw []byte, rec *messages.Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !asJSON {
			return p.record(*rec)
		}
		j, err := messages.MsgpackToJSON(raw)
		if err != nil {
			return fmt.Errorf("record %d: %w", rec.Offset, err)
		}
		_, err = fmt.Fprintf(w, "%s\n", j)
		return err
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	fmt.Fprintf(stderr, "dumped %d records; the log holds offsets %d up to %d\n", end-first, lowest, next)
	return l.Close()
}
