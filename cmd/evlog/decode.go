package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"unicode/utf8"

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
			"Binary values are shown as text when they are valid UTF-8 and as\n" +
			"{\"base64\": \"...\"} otherwise.",
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
			var v any
			if err := messages.Unmarshal(b, &v); err != nil {
				return err
			}
			out, err := json.Marshal(jsonable(v))
			if err != nil {
				return fmt.Errorf("encode JSON: %w", err)
			}
			_, err = fmt.Fprintf(stdout, "%s\n", out)
			return err
		},
	}
}

// jsonable converts what msgpack decodes into values encoding/json takes:
// maps with non-string keys get string keys, and bytes become text or
// base64.
func jsonable(v any) any {
	switch x := v.(type) {
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return map[string]string{"base64": base64.StdEncoding.EncodeToString(x)}
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = jsonable(e)
		}
		return m
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = jsonable(e)
		}
		return s
	}
	return v
}
