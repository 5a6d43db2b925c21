package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/evlog/evlog/service/client/load"
)

// benchProgress shows how a run goes: a bar on a terminal, a plain line a
// second otherwise, both on stderr.
type benchProgress struct {
	w        io.Writer
	terminal bool
	cfg      load.Config
}

func newBenchProgress(stderr io.Writer, cfg load.Config) *benchProgress {
	p := &benchProgress{w: stderr, cfg: cfg}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.terminal = true
	}
	return p
}

// run reports d's progress since start until done is closed.
func (p *benchProgress) run(start time.Time, d *load.Driver, done <-chan struct{}) {
	var bar *progressbar.ProgressBar
	period := time.Second
	if p.terminal {
		total := p.cfg.Duration.Milliseconds()
		if p.cfg.Records > 0 {
			total = p.cfg.Records
		}
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
		period = 200 * time.Millisecond
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-done:
			if bar != nil {
				bar.Finish()
				bar.Clear()
			}
			return
		case <-tick.C:
		}
		pr := d.Progress()
		elapsed := time.Since(start)
		line := fmt.Sprintf("%d records, %.0f records/s, %d errors", pr.Records, float64(pr.Records)/elapsed.Seconds(), pr.Errors)
		if bar == nil {
			fmt.Fprintf(p.w, "evlog bench: %4.0fs %s\n", elapsed.Seconds(), line)
			continue
		}
		bar.Describe(line)
		if p.cfg.Records > 0 {
			bar.Set64(min(pr.Asked, p.cfg.Records))
		} else {
			bar.Set64(min(elapsed.Milliseconds(), p.cfg.Duration.Milliseconds()))
		}
	}
}
