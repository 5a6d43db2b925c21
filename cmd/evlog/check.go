package main

import (
	"cmp"
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
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/evlog/evlog/segment"
)

// errDamaged is returned by check when damage remains, so that the
// command exits with 1.
var errDamaged = errors.New("damage found")

func checkCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog check", flag.ContinueOnError)
	dir := fs.String("dir", "./data", "data directory of the log")
	repair := fs.Bool("repair", false, "rebuild damaged indexes and cut a torn tail of the last segment")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	return &ffcli.Command{
		Name:       "check",
		ShortUsage: "evlog check [--dir DIR] [--repair] [--json]",
		ShortHelp:  "verify a log directory offline",
		LongHelp: "Verify every segment of a log directory: frame lengths and checksums,\n" +
			"that every record decodes and carries its offset, that each index matches\n" +
			"its store, and that segments follow on from each other. Run it on a\n" +
			"directory that no evlog process has open.\n\n" +
			"--repair rebuilds damaged indexes from their stores and cuts the torn tail\n" +
			"of the last segment, as a restart would; it never deletes records that may\n" +
			"be intact, and says what to do about the damage it leaves.\n\n" +
			"Exit status: 0 when the log is clean (or was repaired), 1 when damage\n" +
			"remains, 2 for a usage error such as a missing directory.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if err := noArgs("check", args); err != nil {
				return err
			}
			if fi, err := os.Stat(*dir); err != nil || !fi.IsDir() {
				if err == nil {
					err = errors.New("not a directory")
				}
				return usageError{fmt.Errorf("--dir %s: %w", *dir, err)}
			}
			p := newProgress(stderr)
			rep, err := segment.Check(*dir, segment.CheckOptions{Repair: *repair, Progress: p.update})
			p.finish()
			if err != nil {
				return err
			}
			if *asJSON {
				err = json.NewEncoder(stdout).Encode(rep)
			} else {
				err = printReport(stdout, rep)
			}
			if err != nil {
				return err
			}
			if !rep.OK() {
				return fmt.Errorf("%w: %d of %d segments damaged", errDamaged, rep.Damaged, len(rep.Segments))
			}
			return nil
		},
	}
}

// printReport prints one line a segment, the details of those that are
// not plainly ok, and a summary.
func printReport(w io.Writer, rep segment.CheckReport) error {
	ew := &errWriter{w: w}
	for _, s := range rep.Segments {
		status := s.Status
		switch {
		case s.FirstBad == nil:
		case s.Status == segment.StatusDamaged:
			status += fmt.Sprintf(" from offset %d (store position %d)", s.FirstBad.Offset, s.FirstBad.Position)
		default:
			status += fmt.Sprintf(" (damage was at offset %d, store position %d)", s.FirstBad.Offset, s.FirstBad.Position)
		}
		ew.printf("%s  %8d records  %s\n", filepath.Base(s.Store), s.Records, status)
		for _, p := range s.Problems {
			ew.printf("    problem: %s\n", p)
		}
		for _, r := range s.Repairs {
			ew.printf("    repaired: %s\n", r)
		}
		for _, n := range s.Notes {
			ew.printf("    note: %s\n", n)
		}
		if s.Advice != "" {
			ew.printf("    advice: %s\n", s.Advice)
		}
	}
	for _, n := range rep.Notes {
		ew.printf("note: %s\n", n)
	}
	verdict := "clean"
	if !rep.OK() {
		verdict = fmt.Sprintf("%d damaged", rep.Damaged)
	}
	if rep.Repaired > 0 {
		verdict += fmt.Sprintf(", %d repaired", rep.Repaired)
	}
	ew.printf("%d segments, %d records intact, lowest offset %d, next offset %d, %d bytes: %s\n",
		len(rep.Segments), rep.Records, rep.LowestOffset, rep.NextOffset, rep.Bytes, verdict)
	return ew.err
}

// errWriter keeps the first write error, so that printing need not check
// every line.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// progress shows how far the check is: a bar when stderr is a terminal,
// otherwise a plain line at every tenth of the way. The rate is the bytes
// checked over the wall time since the check began, and shown only once
// minRateAge has passed: a rate over the first milliseconds (or between
// two close updates, as the bar library computes it) says nothing and
// can read "150 GB/s" for pages in the cache.
type progress struct {
	w        io.Writer
	doing    string // what the bar says; "" is "checking"
	did      string // what a plain line says; "" is "checked"
	terminal bool
	bar      *progressbar.ProgressBar
	tenths   int64
	now      func() time.Time
	start    time.Time
}

// minRateAge is how long a check runs before its rate is shown.
const minRateAge = time.Second

func newProgress(stderr io.Writer) *progress {
	p := &progress{w: stderr, now: time.Now}
	p.start = p.now()
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.terminal = true
	}
	return p
}

func (p *progress) update(done, total int64) {
	if total <= 0 {
		return
	}
	if !p.terminal {
		if t := done * 10 / total; t > p.tenths || done == 0 {
			p.tenths = t
			fmt.Fprintf(p.w, "%s %d of %d bytes (%d%%)%s\n", cmp.Or(p.did, "checked"), done, total, done*100/total, p.rate(done, ", "))
		}
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(cmp.Or(p.doing, "checking")),
			// The library's own rate and time estimate come from the
			// last few updates; the description carries ours.
			progressbar.OptionShowBytes(false),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
	}
	p.bar.Describe(fmt.Sprintf("%s of %s%s", humanBytes(float64(done)), humanBytes(float64(total)), p.rate(done, ", ")))
	p.bar.Set64(done)
}

// rate is sep and the bytes per second checked since the start, or ""
// before minRateAge.
func (p *progress) rate(done int64, sep string) string {
	elapsed := p.now().Sub(p.start)
	if elapsed < minRateAge {
		return ""
	}
	return sep + humanBytes(float64(done)/elapsed.Seconds()) + "/s"
}

// humanBytes shows n bytes in decimal units, as "512 B" or "1.5 GB".
func humanBytes(n float64) string {
	const units = "kMGTPE"
	if n < 1000 {
		return fmt.Sprintf("%.0f B", n)
	}
	i := -1
	for n >= 1000 && i < len(units)-1 {
		n /= 1000
		i++
	}
	return fmt.Sprintf("%.1f %cB", n, units[i])
}

// finish clears the bar, so that the report starts on a clean line.
func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar.Clear()
	}
}
