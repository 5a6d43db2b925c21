package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/evlog/evlog/messages"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func decodeCommand(stdin io.Reader, stdout io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog decode", flag.ContinueOnError)
	max := fs.Int("max-bytes", 64<<20, "largest input accepted")
	return &ffcli.Command{
		Name:       "decode",
		ShortUsage: "evlog decode < body.msgpack",
		ShortHelp:  "print one msgpack body from stdin as JSON",
		LongHelp: "Print one msgpack body from stdin as JSON, for example:\n" +
			"  nats sub evlog.committed --translate 'evlog decode'\n" +
			"The JSON is the protocol's JSON form: bytes are text when they are\n" +
			"valid UTF-8 and base64 under a key ending in _base64 otherwise.\n" +
			"An empty body, which is what an error reply carries, prints nothing,\n" +
			"so that nats shows the error headers alone; white space after the\n" +
			"body, as nats req --raw adds, is ignored.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if err := noArgs("decode", args); err != nil {
				return err
			}
			b, err := io.ReadAll(io.LimitReader(stdin, int64(*max)+1))
			if err != nil {
				return fmt.Errorf("read stdin: %w", err)
			}
			if len(b) > *max {
				return fmt.Errorf("input exceeds --max-bytes %d", *max)
			}
			out, err := decodeBody(b)
			if err != nil || out == nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, "%s\n", out)
			return err
		},
	}
}

// maxTrailing is how much white space after a body decodeBody drops: nats
// req --raw adds one or two newlines, a terminal maybe a carriage return.
const maxTrailing = 8

// decodeBody converts the body in b to JSON, or returns nil for an empty
// body. A body that is not valid as it is is tried again without up to
// maxTrailing bytes of trailing white space, shortest cut first: those
// bytes are also msgpack integers, so a body may end with them, but a
// msgpack value has one end, so at most one cut can make it valid.
func decodeBody(b []byte) ([]byte, error) {
	if len(b) == 0 || string(bytes.TrimSpace(b)) == "nil body" {
		// The second is how nats req --raw prints an empty body.
		return nil, nil
	}
	out, err := messages.MsgpackToJSON(b)
	for cut := 1; err != nil && cut <= maxTrailing && cut < len(b) && isSpace(b[len(b)-cut]); cut++ {
		if o, e := messages.MsgpackToJSON(b[:len(b)-cut]); e == nil {
			return o, nil
		}
	}
	return out, err
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}
