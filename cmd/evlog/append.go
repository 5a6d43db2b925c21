package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/client"
)

const appendHelp = `Append records: each VALUE argument is one record, all sent in one
request; without arguments each line of stdin is one record (without its
line ending), sent in requests of --batch lines. Every record gets --key and
the --header values.

Stdin of up to --hold-bytes is read and checked whole before anything is
sent: if a line is bad (empty without --key, or over 1 MiB), nothing is
appended and the error names the line. Larger input is checked and sent as
it is read, so a bad line stops the command with the lines before it
appended. Either way, when anything fails the error says which lines were
appended at which offsets and that nothing after them was, for example:

  evlog: line 219: empty: a record needs a value or a key (--key); appended lines 1-200 at offsets 0-199, nothing after

Each request that succeeds prints "appended offsets FIRST-LAST" (or
"appended offset N"), or its reply as JSON with --json.

--id makes the request idempotent: run the same command again with the
same id (within the service's --dedup-window) and nothing is appended
twice; the retry prints the original offsets and "(duplicate)".
--expected-offset N appends only if the log's next offset is N; otherwise
the command fails with "409 conflict" and the log's next offset. Both
apply to one request, so all the records must go in one: as arguments, or
stdin of at most --batch lines.

No records at all (no arguments and empty stdin) is an error, "no records
to append", with exit status 1, so that a pipeline whose producer wrote
nothing is noticed; kafka-console-producer exits 0 in that case.`

// maxLineBytes is the longest stdin line accepted, the default largest
// record of the service.
const maxLineBytes = 1 << 20

// errNoRecords is returned by append when there is nothing to append.
var errNoRecords = errors.New("no records to append")

func appendCommand(stdin io.Reader, stdout io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog append", flag.ContinueOnError)
	cf := addClientFlags(fs)
	key := fs.String("key", "", "key of every appended record")
	var headers headerFlag
	fs.Var(&headers, "header", "header NAME=VALUE of every record (repeatable)")
	batch := fs.Int("batch", 100, "records per request when reading stdin")
	hold := fs.Int("hold-bytes", 64<<20, "stdin up to this size is checked whole before anything is sent")
	id := fs.String("id", "", "id of the append request (1-128 bytes): a retry with the same id appends nothing and prints the original offsets")
	var expected *uint64
	fs.Func("expected-offset", "append only if the log's next offset is `N`, else fail with 409 conflict", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("not an offset: %q", v)
		}
		expected = &n
		return nil
	})
	return &ffcli.Command{
		Name:       "append",
		ShortUsage: "evlog append [flags] [VALUE ...]",
		ShortHelp:  "append values given as arguments, or one per line of stdin",
		LongHelp:   appendHelp,
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			a := &appender{ctx: ctx, cf: cf, key: *key, headers: headers.m, batch: *batch, stdout: stdout}
			if *batch < 1 {
				return usageError{fmt.Errorf("--batch must be at least 1, got %d", *batch)}
			}
			if *id != "" {
				if err := messages.CheckID(*id); err != nil {
					return usageError{fmt.Errorf("--id: %w", err)}
				}
				a.opts = append(a.opts, client.WithID(*id))
			}
			if expected != nil {
				a.opts = append(a.opts, client.WithExpectedOffset(*expected))
			}
			defer a.close()
			if len(args) > 0 {
				for i, v := range args {
					if err := a.check(v); err != nil {
						return fmt.Errorf("argument %d: %w; nothing appended", i+1, err)
					}
				}
				return a.send(args, 0)
			}
			return a.lines(stdin, *hold)
		},
	}
}

// appender sends records to the service and remembers which input lines
// went where, to say so when something fails.
type appender struct {
	ctx     context.Context
	cf      clientFlags
	nc      *nats.Conn // nil until the first request: bad input needs no service
	c       *client.Client
	key     string
	headers map[string]string
	batch   int
	stdout  io.Writer
	// opts are --id and --expected-offset, which allow one request only.
	opts []client.AppendOption

	sent []sentLines
}

// sentLines are input lines appended at contiguous offsets.
type sentLines struct {
	firstLine, lastLine int
	first, last         uint64
}

// close closes the connection, if the appender opened one.
func (a *appender) close() {
	if a.nc != nil {
		a.nc.Close()
	}
}

// check says what is wrong with a value as a record, if anything.
func (a *appender) check(v string) error {
	if v == "" && a.key == "" {
		return errors.New("empty: a record needs a value or a key (--key)")
	}
	return nil
}

// lines appends stdin one record a line: checked whole up to hold bytes,
// and as it is read beyond that.
func (a *appender) lines(stdin io.Reader, hold int) error {
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	var pending []string
	first := 1 // line number of pending[0]
	held, streaming := 0, false
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if err := a.check(line); err != nil {
			return fmt.Errorf("line %d: %w; %s", n, err, a.appended())
		}
		pending = append(pending, line)
		if !streaming {
			held += len(line) + 1
			streaming = held > hold
		}
		for streaming && len(pending) >= a.batch {
			if err := a.send(pending[:a.batch], first); err != nil {
				return err
			}
			pending, first = pending[a.batch:], first+a.batch
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes; %s", n+1, maxLineBytes, a.appended())
		}
		return fmt.Errorf("read stdin after line %d: %w; %s", n, err, a.appended())
	}
	if n == 0 {
		return errNoRecords
	}
	for len(pending) > 0 {
		k := min(a.batch, len(pending))
		if err := a.send(pending[:k], first); err != nil {
			return err
		}
		pending, first = pending[k:], first+k
	}
	return nil
}

// send appends values in one request; firstLine is the input line of
// values[0], 0 for arguments.
func (a *appender) send(values []string, firstLine int) error {
	if a.c == nil {
		nc, c, err := a.cf.connect()
		if err != nil {
			return fmt.Errorf("%w; %s", err, a.appended())
		}
		a.nc, a.c = nc, c
	}
	if len(a.opts) > 0 && len(a.sent) > 0 {
		return fmt.Errorf("--id and --expected-offset apply to one request, and stdin needs more than --batch %d lines; %s", a.batch, a.appended())
	}
	recs := make([]messages.Record, len(values))
	for i, v := range values {
		recs[i] = messages.Record{Value: []byte(v), Key: []byte(a.key), Headers: a.headers}
	}
	rctx, cancel := a.cf.ctx(a.ctx)
	defer cancel()
	rep, err := a.c.AppendWith(rctx, recs, a.opts...)
	if err != nil {
		return a.failed(err, len(values), firstLine)
	}
	a.record(firstLine, firstLine+len(values)-1, rep)
	if *a.cf.json {
		return json.NewEncoder(a.stdout).Encode(rep)
	}
	dup := ""
	if rep.Duplicate {
		dup = " (duplicate)"
	}
	_, err = fmt.Fprintf(a.stdout, "appended %s%s\n", offsetRange(rep.FirstOffset, rep.LastOffset), dup)
	return err
}

// record notes lines appended at rep's offsets, merging with the lines
// before when the offsets follow on.
func (a *appender) record(firstLine, lastLine int, rep messages.AppendReply) {
	if n := len(a.sent); n > 0 && a.sent[n-1].lastLine+1 == firstLine && a.sent[n-1].last+1 == rep.FirstOffset {
		a.sent[n-1].lastLine, a.sent[n-1].last = lastLine, rep.LastOffset
		return
	}
	a.sent = append(a.sent, sentLines{firstLine, lastLine, rep.FirstOffset, rep.LastOffset})
}

// recordIndexRe finds the index of the record the service blames.
var recordIndexRe = regexp.MustCompile(`\brecord (\d+)\b`)

// failed describes a request that failed: its lines, the line the service
// blamed, and what was appended before.
func (a *appender) failed(err error, n, firstLine int) error {
	if firstLine == 0 {
		return fmt.Errorf("%w; %s", err, a.appended())
	}
	what := fmt.Sprintf("lines %d-%d not appended", firstLine, firstLine+n-1)
	var se *client.Error
	if errors.As(err, &se) {
		if m := recordIndexRe.FindStringSubmatch(se.Description); m != nil {
			if i, perr := strconv.Atoi(m[1]); perr == nil && i < n {
				what += fmt.Sprintf(" (the service refused line %d)", firstLine+i)
			}
		}
	}
	return fmt.Errorf("%s: %w; %s", what, err, a.appended())
}

// appended says which input was appended so far.
func (a *appender) appended() string {
	if len(a.sent) == 0 {
		return "nothing appended"
	}
	parts := make([]string, len(a.sent))
	for i, s := range a.sent {
		if s.firstLine == 0 {
			parts[i] = "the arguments at " + offsetRange(s.first, s.last)
			continue
		}
		parts[i] = fmt.Sprintf("%s at %s", lineRange(s.firstLine, s.lastLine), offsetRange(s.first, s.last))
	}
	return "appended " + strings.Join(parts, " and ") + ", nothing after"
}

// offsetRange says "offset 7" or "offsets 7-9".
func offsetRange(first, last uint64) string {
	if first == last {
		return fmt.Sprintf("offset %d", first)
	}
	return fmt.Sprintf("offsets %d-%d", first, last)
}

// lineRange says "line 7" or "lines 7-9".
func lineRange(first, last int) string {
	if first == last {
		return fmt.Sprintf("line %d", first)
	}
	return fmt.Sprintf("lines %d-%d", first, last)
}

// headerFlag collects repeated NAME=VALUE flags.
type headerFlag struct{ m map[string]string }

func (h *headerFlag) String() string { return "" }

func (h *headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("header %q is not NAME=VALUE", s)
	}
	if h.m == nil {
		h.m = map[string]string{}
	}
	h.m[k] = v
	return nil
}
