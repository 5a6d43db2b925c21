package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"
)

const envPrefix = "EVLOG"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if msg := err.Error(); !errors.Is(err, flag.ErrHelp) {
			// Errors from the service already say where they come from.
			if !strings.HasPrefix(msg, "evlog:") {
				msg = "evlog: " + msg
			}
			fmt.Fprintln(os.Stderr, msg)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// noArgs refuses positional arguments for a subcommand that takes none,
// as a usage error.
func noArgs(name string, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", name, args)}
	}
	return nil
}

// usageError marks a mistake in the command line, which exits with 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// run is main without the process: tests call it with their own streams.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := &ffcli.Command{
		Name:       "evlog",
		ShortUsage: "evlog <subcommand> [flags]",
		LongHelp: "evlog is a durable, append-only event log served over NATS.\n\n" +
			"Every flag can also be set from the environment: EVLOG_ followed by the\n" +
			"flag name in upper case with dashes as underscores (EVLOG_DIR, ...).",
		FlagSet: flag.NewFlagSet("evlog", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			serveCommand(stdout, stderr),
			appendCommand(stdin, stdout),
			readCommand(stdout),
			tailCommand(stdout),
			truncateCommand(stdout),
			infoCommand(stdout),
			decodeCommand(stdin, stdout),
			checkCommand(stdout, stderr),
			benchCommand(stdout, stderr),
		},
	}
	root.Exec = func(_ context.Context, args []string) error {
		fmt.Fprint(stderr, ffcli.DefaultUsageFunc(root))
		if len(args) > 0 {
			return usageError{fmt.Errorf("unknown subcommand %q", args[0])}
		}
		return usageError{errors.New("no subcommand given")}
	}
	for _, c := range append(root.Subcommands, root) {
		c.FlagSet.SetOutput(stderr)
		c.Options = append(c.Options, ff.WithEnvVarPrefix(envPrefix))
	}
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return root.Run(ctx)
}
