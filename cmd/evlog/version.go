package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
)

func versionCommand(stdout io.Writer) *ffcli.Command {
	return &ffcli.Command{
		Name:       "version",
		ShortUsage: "evlog version",
		ShortHelp:  "print the version, as evlog --version does",
		LongHelp: "Print the module version of this build and, when it was built from a\n" +
			"git checkout, the commit it was built from (with \"modified\" when the\n" +
			"checkout had uncommitted changes).",
		FlagSet: flag.NewFlagSet("evlog version", flag.ContinueOnError),
		Exec: func(_ context.Context, args []string) error {
			if err := noArgs("version", args); err != nil {
				return err
			}
			_, err := fmt.Fprintln(stdout, version())
			return err
		},
	}
}

// version describes this build.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "evlog (unknown version: built without module support)"
	}
	return describeBuild(bi)
}

// describeBuild says "evlog VERSION", then the VCS revision, its time and
// whether the tree was modified when the build recorded them, and the Go
// version.
func describeBuild(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "evlog %s", v)
	if rev != "" {
		fmt.Fprintf(&b, " revision %s", rev)
		if at != "" {
			fmt.Fprintf(&b, " (%s)", at)
		}
		if modified {
			b.WriteString(" modified")
		}
	}
	if bi.GoVersion != "" {
		fmt.Fprintf(&b, " %s", bi.GoVersion)
	}
	return b.String()
}
