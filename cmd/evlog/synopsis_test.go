package main

import (
	"errors"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// rootSynopsis is how the synopsis names evlog's own flags, and
// clientSynopsis the flags every client command shares.
const (
	rootSynopsis   = "evlog"
	clientSynopsis = "client flags"
)

var (
	helpFlagRe     = regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`)
	synopsisFlagRe = regexp.MustCompile(`--([a-z][a-z0-9-]*)`)
)

// readmeSynopsis returns the flags the README's command-line synopsis
// lists for each subcommand (rootSynopsis for evlog itself), and which
// subcommands take the client flags.
func readmeSynopsis(t *testing.T) (flags map[string][]string, client map[string]bool) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Command line\n")
	if !ok {
		t.Fatal("README has no Command line section")
	}
	_, block, ok := strings.Cut(section, "```\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("the Command line section has no synopsis block")
	}
	flags, client = map[string][]string{}, map[string]bool{}
	current := ""
	for _, line := range strings.Split(block, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			current = ""
			continue
		case strings.HasPrefix(line, clientSynopsis+":"):
			current = clientSynopsis
		case strings.HasPrefix(line, "evlog "):
			current = strings.Fields(line)[1]
			if strings.HasPrefix(current, "-") {
				current = rootSynopsis
			}
			if _, dup := flags[current]; dup && current != rootSynopsis {
				t.Errorf("synopsis lists evlog %s twice", current)
			}
		case current == "":
			t.Fatalf("synopsis line %q belongs to no command", line)
		}
		if strings.Contains(line, "["+clientSynopsis+"]") {
			client[current] = true
		}
		if _, seen := flags[current]; !seen {
			flags[current] = nil // a command without flags is still listed
		}
		for _, m := range synopsisFlagRe.FindAllStringSubmatch(line, -1) {
			flags[current] = append(flags[current], m[1])
		}
	}
	return flags, client
}

// helpFlags returns the flags `evlog args... --help` lists.
func helpFlags(t *testing.T, args ...string) []string {
	t.Helper()
	out, _, err := cliStreams(t, "", append(args, "--help")...)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("evlog %s --help: %v", strings.Join(args, " "), err)
	}
	var names []string
	for _, m := range helpFlagRe.FindAllStringSubmatch(out, -1) {
		names = append(names, m[1])
	}
	return names
}

// subcommands returns the subcommands `evlog --help` lists.
func subcommands(t *testing.T) []string {
	t.Helper()
	out, _, _ := cliStreams(t, "", "--help")
	_, list, ok := strings.Cut(out, "SUBCOMMANDS\n")
	if !ok {
		t.Fatalf("evlog --help lists no subcommands:\n%s", out)
	}
	list, _, _ = strings.Cut(list, "\n\n")
	var names []string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// TestREADMESynopsisMatchesHelp keeps the README's synopsis and --help in
// step: every flag a subcommand's help lists is in its synopsis line, and
// every flag there exists.
func TestREADMESynopsisMatchesHelp(t *testing.T) {
	documented, client := readmeSynopsis(t)
	clientFS := flag.NewFlagSet("client", flag.ContinueOnError)
	addClientFlags(clientFS)
	var clientFlagNames []string
	clientFS.VisitAll(func(f *flag.Flag) { clientFlagNames = append(clientFlagNames, f.Name) })
	compare(t, clientSynopsis, documented[clientSynopsis], clientFlagNames)

	compare(t, rootSynopsis, documented[rootSynopsis], helpFlags(t))
	names := subcommands(t)
	if len(names) < 10 {
		t.Fatalf("found only subcommands %v", names)
	}
	for _, name := range names {
		want, ok := documented[name]
		if !ok {
			t.Errorf("README synopsis lacks evlog %s", name)
			continue
		}
		if client[name] {
			want = append(slices.Clone(want), clientFlagNames...)
		}
		compare(t, name, want, helpFlags(t, name))
	}
	for name := range documented {
		if name != rootSynopsis && name != clientSynopsis && !slices.Contains(names, name) {
			t.Errorf("README synopsis lists evlog %s, which does not exist", name)
		}
	}
}

func compare(t *testing.T, cmd string, documented, actual []string) {
	t.Helper()
	for _, f := range actual {
		if !slices.Contains(documented, f) {
			t.Errorf("evlog %s: --%s is in --help but not in the README synopsis", cmd, f)
		}
	}
	for _, f := range documented {
		if !slices.Contains(actual, f) {
			t.Errorf("evlog %s: the README synopsis lists --%s, which --help does not", cmd, f)
		}
	}
}
