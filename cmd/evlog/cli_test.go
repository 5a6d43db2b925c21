package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"runtime/debug"
	"strings"
	"testing"
)

// cliStreams runs the command line in-process and returns stdout and
// stderr apart.
func cliStreams(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func TestFlagErrorSaysItOnce(t *testing.T) {
	for _, args := range [][]string{{"info", "--bogus"}, {"--bogus"}, {"read", "--max", "many"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, err := cliStreams(t, "", args...)
			if err == nil || exitCode(err) != 2 {
				t.Fatalf("err %v, want a usage error", err)
			}
			if n := strings.Count(stderr, "USAGE"); n != 1 {
				t.Fatalf("usage printed %d times:\n%s", n, stderr)
			}
			// main prints the error, once, after the usage.
			if strings.Contains(stderr, err.Error()) || strings.Contains(err.Error(), "error parsing") {
				t.Fatalf("stderr repeats the error or err is wrapped: %q\n%s", err, stderr)
			}
			if stdout != "" {
				t.Fatalf("usage error wrote to stdout: %q", stdout)
			}
		})
	}
}

func TestHelpCommandMatchesHelpFlag(t *testing.T) {
	for _, name := range []string{"append", "read", "tail", "truncate", "info", "decode", "check", "bench", "serve", "version"} {
		flagOut, _, err := cliStreams(t, "", name, "--help")
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(flagOut, "evlog "+name) {
			t.Fatalf("%s --help: %v: %q", name, err, flagOut)
		}
		helpOut, _, err := cliStreams(t, "", "help", name)
		if err != nil || helpOut != flagOut {
			t.Fatalf("help %s: %v\n%s\nwant\n%s", name, err, helpOut, flagOut)
		}
	}
	root, _, err := cliStreams(t, "", "help")
	if err != nil || !strings.Contains(root, "version") || !strings.Contains(root, "help") {
		t.Fatalf("help: %v: %s", err, root)
	}
	if _, _, err := cliStreams(t, "", "help", "bogus"); exitCode(err) != 2 {
		t.Fatalf("help bogus: %v", err)
	}
}

func TestVersion(t *testing.T) {
	a, _, err := cliStreams(t, "", "version")
	if err != nil || !strings.HasPrefix(a, "evlog ") {
		t.Fatalf("version: %v: %q", err, a)
	}
	b, _, err := cliStreams(t, "", "--version")
	if err != nil || b != a {
		t.Fatalf("--version: %v: %q, want %q", err, b, a)
	}
	got := describeBuild(&debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/evlog/evlog", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	})
	if want := "evlog v1.2.3 revision 0123abcd (2026-01-02T03:04:05Z) modified go1.26.8"; got != want {
		t.Fatalf("describeBuild: %q, want %q", got, want)
	}
	if got := describeBuild(&debug.BuildInfo{}); got != "evlog (devel)" {
		t.Fatalf("describeBuild of nothing: %q", got)
	}
}
