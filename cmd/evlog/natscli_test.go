package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evlog/evlog/service/node"
	"github.com/evlog/evlog/service/servicetest"
)

// TestREADMENatsCLI runs the README's claims about the nats CLI: that nats
// micro sees the service and that nats req and nats sub, translated by
// evlog decode, show readable replies and notifications.
func TestREADMENatsCLI(t *testing.T) {
	natsBin, err := exec.LookPath("nats")
	if err != nil {
		t.Skip("no nats binary on PATH: the README's nats CLI examples are not run (install github.com/nats-io/natscli to run them)")
	}
	url := startServiceWith(t, node.Options{})
	// The examples run `evlog decode`: put a fresh build first on PATH.
	binDir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "evlog"), ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env := append(os.Environ(), "NATS_URL="+url, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	nats := func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, natsBin, args...)
		cmd.Env = env
		return cmd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"micro", "ls"}, "evlog"},
		{[]string{"micro", "info", "evlog"}, "evlog"},
		{[]string{"micro", "stats", "evlog"}, "evlog"},
		{[]string{"req", "evlog.info", "", "--translate", "evlog decode"}, `"next_offset":0`},
	} {
		out, err := nats(ctx, tc.args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("nats %q: %v, want %q in:\n%s", tc.args, err, tc.want, out)
		}
	}

	var subOut servicetest.Buffer
	sub := nats(ctx, "sub", "evlog.committed", "--count", "1", "--translate", "evlog decode")
	sub.Stdout, sub.Stderr = &subOut, &subOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	// The subscription is in place once nats says it listens.
	waitOutput(t, &subOut, "evlog.committed")
	if out, err := cli(t, "", "append", "--nats-url", url, "hello"); err != nil {
		t.Fatalf("append: %v: %s", err, out)
	}
	if err := sub.Wait(); err != nil || !strings.Contains(subOut.String(), `"first_offset":0`) {
		t.Fatalf("nats sub: %v:\n%s", err, subOut.String())
	}
}
