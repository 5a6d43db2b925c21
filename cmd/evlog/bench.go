package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/evlog/evlog/service/client/load"
)

// benchFlags are the flags of evlog bench beyond the client's.
type benchFlags struct {
	mode                           string
	clients, inflight, batch, size int
	duration                       time.Duration
	records                        int64
	idempotent                     bool
}

func addBenchFlags(fs *flag.FlagSet) *benchFlags {
	var f benchFlags
	fs.StringVar(&f.mode, "mode", string(load.Append), "append, read (cycles over the log's records) or mixed (each client alternates appends and reads of the newest records)")
	fs.IntVar(&f.clients, "clients", 1, "NATS connections, each with its own window of requests")
	fs.IntVar(&f.inflight, "inflight", 1, "requests in flight per client")
	fs.IntVar(&f.batch, "batch", 1, "records per append; most records per read")
	fs.IntVar(&f.size, "size", 100, "bytes of each appended record's value")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to send requests")
	fs.BoolVar(&f.idempotent, "idempotent", false, "give every append a fresh id, to measure what deduplication costs")
	fs.Int64Var(&f.records, "records", 0, "stop after asking for this many records instead of after --duration")
	return &f
}

// config is the load the flags ask for, validated; runBench adds the
// service's subjects, the log's offsets and the connections.
func (f *benchFlags) config(cf clientFlags) (load.Config, error) {
	cfg := load.Config{
		Mode: load.Mode(f.mode), Clients: f.clients, Inflight: f.inflight, Batch: f.batch, Size: f.size,
		Duration: f.duration, Records: f.records, Timeout: *cf.timeout, Idempotent: f.idempotent,
	}
	if err := cfg.Validate(); err != nil {
		// Validate names the field, which is the flag's name.
		return cfg, usageError{fmt.Errorf("--%w", err)}
	}
	return cfg, nil
}

func benchCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog bench", flag.ContinueOnError)
	cf := addClientFlags(fs)
	bf := addBenchFlags(fs)
	return &ffcli.Command{
		Name:       "bench",
		ShortUsage: "evlog bench [--mode append|read|mixed] [--clients N] [--inflight N] [--batch N] [--size BYTES] [--duration D | --records N] [--idempotent] [flags]",
		ShortHelp:  "measure a running evlog: records/s, MB/s and request latency",
		LongHelp: "Drive a running evlog over NATS and report what it sustained.\n\n" +
			"Each of --clients connections keeps --inflight requests unanswered,\n" +
			"each holding --batch records of --size bytes (appends) or asking for\n" +
			"--batch records (reads). A request unanswered after --timeout counts as\n" +
			"an error. Progress goes to stderr; the summary (records/s, MB/s, errors\n" +
			"by code, latency percentiles and a histogram of the answered requests)\n" +
			"to stdout, as JSON with --json. Appends go into the log like any\n" +
			"others: bench a log whose records you can spare.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if err := noArgs("bench", args); err != nil {
				return err
			}
			cfg, err := bf.config(cf)
			if err != nil {
				return err
			}
			ctx, stop := notifyContext(ctx)
			defer stop()
			rep, err := runBench(ctx, cf, cfg, newBenchProgress(stderr, cfg))
			if err != nil {
				return err
			}
			if err := writeBenchReport(stdout, rep, *cf.json); err != nil {
				return err
			}
			if rep.Requests == 0 {
				return fmt.Errorf("bench: no request succeeded (%s)", benchErrorSummary(rep))
			}
			return nil
		},
	}
}

// writeBenchReport prints rep, as JSON or for people.
func writeBenchReport(w io.Writer, rep *load.Report, asJSON bool) error {
	if !asJSON {
		return writeBenchText(w, rep)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// runBench learns the log's offsets, drives the service as cfg says while
// progress shows how it goes, and returns the report.
func runBench(ctx context.Context, cf clientFlags, cfg load.Config, progress *benchProgress) (*load.Report, error) {
	nc, c, err := cf.connect()
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	ictx, cancel := cf.ctx(ctx)
	inf, err := c.Info(ictx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	cfg.Subjects, cfg.LowestOffset, cfg.NextOffset = c.Subjects(), inf.LowestOffset, inf.NextOffset
	cfg.Dial = cf.dialBench
	d, err := load.New(cfg)
	if errors.Is(err, load.ErrNothingToRead) {
		return nil, errors.New("bench: the log is empty, nothing to read: run evlog bench --mode append first")
	}
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { progress.run(time.Now(), d, done) })
	rep, err := d.Run(ctx)
	close(done)
	wg.Wait()
	return rep, errors.Join(err, d.Close())
}

// dialBench connects bench client i, named for it, with the
// credentials of the other subcommands.
func (f clientFlags) dialBench(i int) (*nats.Conn, error) {
	opts, err := f.natsOptions(fmt.Sprintf("evlog bench %d", i))
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(*f.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", *f.url, err)
	}
	return nc, nil
}
