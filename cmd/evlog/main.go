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
//
// Help that is asked for (--help, -h, evlog help) goes to stdout and exits
// 0. A command line that does not parse prints the command's usage once on
// stderr and returns a usage error, which main prints as one line after it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	rootFS := flag.NewFlagSet("evlog", flag.ContinueOnError)
	showVersion := rootFS.Bool("version", false, "print the version and exit")
	root := &ffcli.Command{
		Name:       "evlog",
		ShortUsage: "evlog <subcommand> [flags]",
		LongHelp: "evlog is a durable, append-only event log served over NATS.\n\n" +
			"Every flag can also be set from the environment: EVLOG_ followed by the\n" +
			"flag name in upper case with dashes as underscores (EVLOG_DIR, ...).\n" +
			"evlog help SUBCOMMAND (or evlog SUBCOMMAND --help) describes one.",
		FlagSet: rootFS,
		Subcommands: []*ffcli.Command{
			serveCommand(stdout, stderr),
			appendCommand(stdin, stdout),
			readCommand(stdout),
			tailCommand(stdout, stderr),
			truncateCommand(stdout),
			infoCommand(stdout),
			clusterCommand(stdout),
			decodeCommand(stdin, stdout),
			checkCommand(stdout, stderr),
			dumpCommand(stdout, stderr),
			restoreCommand(stdout, stderr),
			snapshotCommand(stdout, stderr),
			benchCommand(stdout, stderr),
			versionCommand(stdout),
		},
	}
	root.Subcommands = append(root.Subcommands, helpCommand(root, stdout))
	root.Exec = func(_ context.Context, args []string) error {
		fmt.Fprintln(stderr, ffcli.DefaultUsageFunc(root))
		if len(args) > 0 {
			return usageError{fmt.Errorf("unknown subcommand %q", args[0])}
		}
		return usageError{errors.New("no subcommand given")}
	}
	for _, c := range append(root.Subcommands, root) {
		// The flag package would print the error and the usage, and main
		// the error again: usage is printed here instead, once.
		c.FlagSet.SetOutput(io.Discard)
		c.Options = append(c.Options, ff.WithEnvVarPrefix(envPrefix))
	}
	if err := root.Parse(args); err != nil {
		c := selectedCommand(root, args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, ffcli.DefaultUsageFunc(c))
			return err
		}
		fmt.Fprintln(stderr, ffcli.DefaultUsageFunc(c))
		// ff wraps the flag package's error in words that add nothing.
		if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "error parsing commandline arguments: ") {
			err = inner
		}
		return usageError{err}
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, version())
		return err
	}
	return root.Run(ctx)
}

// selectedCommand is the subcommand args name, or root: the command whose
// flags failed to parse.
func selectedCommand(root *ffcli.Command, args []string) *ffcli.Command {
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			continue
		}
		for _, c := range root.Subcommands {
			if strings.EqualFold(a, c.Name) {
				return c
			}
		}
		break
	}
	return root
}

// helpCommand prints the usage of the command it names, exactly as
// `evlog COMMAND --help` does, or of evlog itself.
func helpCommand(root *ffcli.Command, stdout io.Writer) *ffcli.Command {
	return &ffcli.Command{
		Name:       "help",
		ShortUsage: "evlog help [subcommand]",
		ShortHelp:  "describe a subcommand, as evlog SUBCOMMAND --help does",
		FlagSet:    flag.NewFlagSet("evlog help", flag.ContinueOnError),
		Exec: func(_ context.Context, args []string) error {
			switch len(args) {
			case 0:
				_, err := fmt.Fprintln(stdout, ffcli.DefaultUsageFunc(root))
				return err
			case 1:
				for _, c := range root.Subcommands {
					if strings.EqualFold(args[0], c.Name) {
						_, err := fmt.Fprintln(stdout, ffcli.DefaultUsageFunc(c))
						return err
					}
				}
				return usageError{fmt.Errorf("help: unknown subcommand %q", args[0])}
			}
			return usageError{fmt.Errorf("help takes one subcommand, got %q", args)}
		},
	}
}
