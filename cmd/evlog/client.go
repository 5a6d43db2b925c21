package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/client"
	"github.com/nats-io/nats.go"
	"github.com/peterbourgon/ff/v3/ffcli"
)

// clientFlags are the flags every client subcommand shares.
type clientFlags struct {
	url     *string
	prefix  *string
	auth    natsAuthFlags
	timeout *time.Duration
	json    *bool
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	url := os.Getenv("NATS_URL")
	if url == "" {
		url = nats.DefaultURL
	}
	return clientFlags{
		url:     fs.String("nats-url", url, "NATS server URL (default from NATS_URL when set)"),
		prefix:  fs.String("prefix", messages.DefaultPrefix, "subject prefix of the log"),
		auth:    addNATSAuthFlags(fs, "this command's connection"),
		timeout: fs.Duration("timeout", 5*time.Second, "how long to wait for each reply"),
		json:    fs.Bool("json", false, "print JSON instead of text"),
	}
}

// natsOptions are the nats.go options of a connection named name: the
// timeout, authentication and TLS the flags ask for.
func (f clientFlags) natsOptions(name string) ([]nats.Option, error) {
	if err := f.auth.validate(); err != nil {
		return nil, err
	}
	auth, err := f.auth.options()
	if err != nil {
		return nil, err
	}
	return append([]nats.Option{
		nats.Name(name),
		nats.Timeout(*f.timeout),
		// The client ends a request the server refuses with the server's
		// message, so nats.go's default handler would only say it twice.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	}, auth...), nil
}

// connect dials NATS and returns a client; the caller closes the connection.
func (f clientFlags) connect() (*nats.Conn, *client.Client, error) {
	opts, err := f.natsOptions("evlog cli")
	if err != nil {
		return nil, nil, err
	}
	nc, err := nats.Connect(*f.url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", *f.url, err)
	}
	return nc, client.New(nc, client.WithPrefix(*f.prefix)), nil
}

func (f clientFlags) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, *f.timeout)
}

// offsetWords explains the words an offset flag takes; read and tail
// mean the same by them.
const offsetWords = `An offset is a number or one of
  earliest  the first record of the log
  latest    the last record of the log
  next      the offset the next appended record will get
On an empty log all three are the next offset.`

func readCommand(stdout io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog read", flag.ContinueOnError)
	cf := addClientFlags(fs)
	offset := fs.String("offset", "earliest", "first offset to read: a number, earliest, latest or next")
	max := fs.Uint64("max", 1, "most records to read, at least 1; fewer at the end of the log")
	wait := fs.Duration("wait", 0, "at the end of the log, wait this long for a record")
	since := fs.String("since", "", "start at the first record appended at or after this time: RFC 3339 or a duration back from now")
	return &ffcli.Command{
		Name:       "read",
		ShortUsage: "evlog read [flags]",
		ShortHelp:  "read records from an offset",
		LongHelp: "Read up to --max records from --offset on, like head: it starts at the\n" +
			"earliest record by default, and stops at the end of the log (after\n" +
			"--wait, if given, for a record to arrive there). --offset latest prints\n" +
			"the last record.\n\n" + offsetWords + "\n\n" + sinceWords + "\n\n" +
			"Text output is one line a record: offset, timestamp, key=KEY and\n" +
			"NAME=VALUE for each header when present, and the value, tab-separated.",
		FlagSet: fs,
		Exec: withClient("read", cf, func(ctx context.Context, c *client.Client) error {
			if *max == 0 {
				return usageError{errors.New("--max must be at least 1")}
			}
			at, err := sinceFlag(fs, *since, "offset")
			if err != nil {
				return err
			}
			var from uint64
			if at == nil {
				if from, err = resolveOffset(ctx, cf, c, *offset); err != nil {
					return err
				}
			}
			p := printer{w: stdout, json: *cf.json}
			return readRecords(ctx, cf, c, readStart{offset: from, since: at}, *max, *wait, p.record)
		}),
	}
}

// readStart is where a read starts: at since when it is set, else at
// offset.
type readStart struct {
	offset uint64
	since  *time.Time
}

// readRecords reads up to max records from start, in as many requests as
// the service's reply limits take, and hands them to each. Only the first
// request waits at the end of the log.
func readRecords(ctx context.Context, cf clientFlags, c *client.Client, start readStart, max uint64, wait time.Duration, each func(messages.Record) error) error {
	from := start.offset
	for left := max; left > 0; {
		rctx, cancel := context.WithTimeout(ctx, *cf.timeout+wait)
		opts := client.ReadOptions{MaxRecords: left, Wait: wait}
		var rep messages.ReadReply
		var err error
		if start.since != nil {
			rep, err = c.ReadSince(rctx, *start.since, opts)
			start.since = nil
		} else {
			rep, err = c.Read(rctx, from, opts)
		}
		cancel()
		if err != nil {
			return err
		}
		if len(rep.Records) == 0 {
			return nil
		}
		for _, r := range rep.Records {
			if err := each(r); err != nil {
				return err
			}
		}
		left -= min(left, uint64(len(rep.Records)))
		from, wait = rep.NextOffset, 0
	}
	return nil
}

func tailCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog tail", flag.ContinueOnError)
	cf := addClientFlags(fs)
	from := fs.String("from", "latest", "where to start: a number, earliest, latest or next")
	since := fs.String("since", "", "start at the first record appended at or after this time: RFC 3339 or a duration back from now")
	return &ffcli.Command{
		Name:       "tail",
		ShortUsage: "evlog tail [flags]",
		ShortHelp:  "print records as they are committed, like tail -f; stop with Ctrl-C",
		LongHelp: "Print records from --from on and then each new one as it is committed,\n" +
			"like tail -f: by default the last record and everything after it.\n" +
			"--from next prints only new records; --from earliest the whole log first.\n\n" +
			offsetWords + "\n\n" + sinceWords + "\n\n" +
			"While the service does not answer (a restart, say), tail says so once\n" +
			"on stderr, keeps trying, and says when the service is back; no record\n" +
			"is skipped or repeated. Output is as for evlog read.",
		FlagSet: fs,
		Exec: withClient("tail", cf, func(ctx context.Context, c *client.Client) error {
			at, err := sinceFlag(fs, *since, "from")
			if err != nil {
				return err
			}
			opts := []client.FollowOption{client.OnWait(func(err error) {
				if err != nil {
					fmt.Fprintf(stderr, "evlog: waiting for the service (%v)...\n", err)
				} else {
					fmt.Fprintln(stderr, "evlog: the service is back")
				}
			})}
			var start uint64
			if at != nil {
				opts = append(opts, client.FollowSince(*at))
			} else if start, err = resolveOffset(ctx, cf, c, *from); err != nil {
				return err
			}
			ctx, stop := notifyContext(ctx)
			defer stop()
			p := printer{w: stdout, json: *cf.json}
			err = c.Follow(ctx, start, p.record, opts...)
			if ctx.Err() != nil {
				return nil // interrupted: the normal way to stop tailing
			}
			return err
		}),
	}
}

func truncateCommand(stdout io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog truncate", flag.ContinueOnError)
	cf := addClientFlags(fs)
	lowest := fs.String("lowest", "", "delete every record below this offset (required); they read as not found at once, and their segments are removed")
	return &ffcli.Command{
		Name:       "truncate",
		ShortUsage: "evlog truncate --lowest N [flags]",
		ShortHelp:  "delete the records below an offset",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			if err := noArgs("truncate", args); err != nil {
				return err
			}
			if *lowest == "" {
				return usageError{errors.New("--lowest is required")}
			}
			n, err := strconv.ParseUint(*lowest, 10, 64)
			if err != nil {
				return usageError{fmt.Errorf("--lowest: want an offset, got %q", *lowest)}
			}
			nc, c, err := cf.connect()
			if err != nil {
				return err
			}
			defer nc.Close()
			rctx, cancel := cf.ctx(ctx)
			defer cancel()
			got, err := c.Truncate(rctx, n)
			if err != nil {
				return err
			}
			if *cf.json {
				return json.NewEncoder(stdout).Encode(messages.TruncateReply{LowestOffset: got})
			}
			_, err = fmt.Fprintf(stdout, "lowest offset is now %d\n", got)
			return err
		},
	}
}

func infoCommand(stdout io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog info", flag.ContinueOnError)
	cf := addClientFlags(fs)
	return &ffcli.Command{
		Name:       "info",
		ShortUsage: "evlog info [flags]",
		ShortHelp:  "show the log's offsets, segments and size",
		FlagSet:    fs,
		Exec: withClient("info", cf, func(ctx context.Context, c *client.Client) error {
			rctx, cancel := cf.ctx(ctx)
			defer cancel()
			inf, err := c.Info(rctx)
			if err != nil {
				return err
			}
			if *cf.json {
				return json.NewEncoder(stdout).Encode(inf)
			}
			_, err = fmt.Fprintf(stdout, "lowest offset  %d\nnext offset    %d\nrecords        %d\nsegments       %d\nbytes          %d\n",
				inf.LowestOffset, inf.NextOffset, inf.NextOffset-inf.LowestOffset, inf.Segments, inf.Bytes)
			return err
		}),
	}
}

// withClient is the Exec of a client subcommand that takes no arguments:
// it refuses any, connects, runs run, and closes the connection.
func withClient(name string, cf clientFlags, run func(context.Context, *client.Client) error) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if err := noArgs(name, args); err != nil {
			return err
		}
		nc, c, err := cf.connect()
		if err != nil {
			return err
		}
		defer nc.Close()
		return run(ctx, c)
	}
}

// resolveOffset turns a number or earliest, latest or next into an
// offset (see offsetWords).
func resolveOffset(ctx context.Context, cf clientFlags, c *client.Client, s string) (uint64, error) {
	switch s {
	case "earliest", "latest", "next":
		rctx, cancel := cf.ctx(ctx)
		defer cancel()
		inf, err := c.Info(rctx)
		if err != nil {
			return 0, err
		}
		switch {
		case s == "earliest":
			return inf.LowestOffset, nil
		case s == "latest" && inf.NextOffset > inf.LowestOffset:
			return inf.NextOffset - 1, nil
		}
		return inf.NextOffset, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, usageError{fmt.Errorf("want an offset, earliest, latest or next, got %q", s)}
	}
	return n, nil
}

// printer writes records for people (tab-separated) or as JSON lines.
type printer struct {
	w    io.Writer
	json bool
}

// jsonRecord is how records look in JSON output: text stays text.
type jsonRecord struct {
	Offset    uint64            `json:"offset"`
	Timestamp time.Time         `json:"timestamp"`
	Key       any               `json:"key,omitempty"`
	Value     any               `json:"value"`
	Headers   map[string]string `json:"headers,omitempty"`
}

func (p printer) record(r messages.Record) error {
	if p.json {
		jr := jsonRecord{Offset: r.Offset, Timestamp: time.Unix(0, r.Timestamp).UTC(), Value: readable(r.Value), Headers: r.Headers}
		if len(r.Key) > 0 {
			jr.Key = readable(r.Key)
		}
		return json.NewEncoder(p.w).Encode(jr)
	}
	line := fmt.Sprintf("%d\t%s", r.Offset, time.Unix(0, r.Timestamp).UTC().Format(time.RFC3339Nano))
	if len(r.Key) > 0 {
		line += "\tkey=" + textField(fmt.Sprint(readable(r.Key)))
	}
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		line += "\t" + textField(name) + "=" + textField(r.Headers[name])
	}
	_, err := fmt.Fprintf(p.w, "%s\t%v\n", line, readable(r.Value))
	return err
}

// textField quotes s when it holds a tab or a line break, which would
// break the line into wrong fields.
func textField(s string) string {
	if strings.ContainsAny(s, "\t\r\n") {
		return strconv.Quote(s)
	}
	return s
}

// readable shows valid UTF-8 as a string and anything else as bytes, which
// JSON encodes in base64.
func readable(b []byte) any {
	if utf8.Valid(b) {
		return string(b)
	}
	return b
}
