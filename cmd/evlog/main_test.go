package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/node"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cli runs the command line in-process and returns its output.
func cli(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := run(ctx, args, strings.NewReader(stdin), &out, &errb)
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"no subcommand", nil, 2},
		{"unknown subcommand", []string{"bogus"}, 2},
		{"unknown flag", []string{"info", "--bogus"}, 2},
		{"bad sync mode", []string{"serve", "--sync", "sometimes"}, 2},
		{"bad prefix", []string{"serve", "--prefix", "a.*"}, 2},
		{"bad truncate offset", []string{"truncate", "--lowest", "-1"}, 2},
		{"help", []string{"serve", "--help"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cli(t, "", tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit code %d, want %d (err %v)", got, tc.code, err)
			}
		})
	}
}

// startService runs the service as `evlog serve` would, on a random port,
// and returns its client URL.
func startService(t *testing.T) string {
	t.Helper()
	// The directory first, so that it is removed only after the service
	// has closed its log in it.
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- node.Run(ctx, node.Options{
			Dir:        dir,
			NATSListen: "127.0.0.1:-1",
			Ready:      func(url string) { ready <- url },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service: %v", err)
		}
	})
	select {
	case url := <-ready:
		return url
	case err := <-done:
		t.Fatalf("service ended before it was ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("service not ready")
	}
	return ""
}

func TestClientCommands(t *testing.T) {
	url := startService(t)
	c := func(stdin string, args ...string) string {
		t.Helper()
		// Flags go before the values: the flag package stops at the first.
		full := append([]string{args[0], "--nats-url", url}, args[1:]...)
		out, err := cli(t, stdin, full...)
		if err != nil {
			t.Fatalf("evlog %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return out
	}

	if out := c("", "append", "hello", "world"); out != "appended offsets 0-1\n" {
		t.Fatalf("append args: %q", out)
	}
	if out := c("a\nb\nc\n", "append", "--batch", "2", "--key", "k", "--header", "h=v"); out != "appended offsets 2-3\nappended offset 4\n" {
		t.Fatalf("append stdin: %q", out)
	}
	out := c("", "read", "--offset", "earliest", "--max", "10", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("read returned %d lines: %q", len(lines), out)
	}
	for i, want := range []string{"hello", "world", "a", "b", "c"} {
		var r jsonRecord
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
			t.Fatal(err)
		}
		if r.Offset != uint64(i) || r.Value != want {
			t.Fatalf("line %d: %+v, want offset %d value %q", i, r, i, want)
		}
		if i >= 2 && (r.Key != "k" || r.Headers["h"] != "v") {
			t.Fatalf("line %d lost key or header: %+v", i, r)
		}
	}
	var info messages.InfoReply
	if err := json.Unmarshal([]byte(c("", "info", "--json")), &info); err != nil {
		t.Fatal(err)
	}
	if info.NextOffset != 5 || info.LowestOffset != 0 || info.Segments != 1 {
		t.Fatalf("info %+v", info)
	}
	if out := c("", "read", "--offset", "3"); !strings.HasPrefix(out, "3\t") || !strings.HasSuffix(out, "\tkey=k\th=v\tb\n") {
		t.Fatalf("text read: %q", out)
	}
	if out, err := cli(t, "", "read", "--offset", "99", "--nats-url", url); err == nil || !strings.Contains(out+err.Error(), "404") {
		t.Fatalf("read beyond the end: err %v, out %q", err, out)
	}
	if out := c("", "truncate", "--lowest", "0"); out != "lowest offset is now 0\n" {
		t.Fatalf("truncate: %q", out)
	}
}

func TestTailFollowsNewRecords(t *testing.T) {
	url := startService(t)
	if _, err := cli(t, "", "append", "--nats-url", url, "old"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"tail", "--from", "earliest", "--nats-url", url}, strings.NewReader(""), &out, &out)
	}()
	for i := range 3 {
		if _, err := cli(t, "", "append", "--nats-url", url, fmt.Sprint("new-", i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "new-2") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tail: %v", err)
	}
	got := out.String()
	for i, want := range []string{"0\t", "1\t", "2\t", "3\t"} {
		lines := strings.Split(strings.TrimSpace(got), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[i], want) {
			t.Fatalf("tail printed %q", got)
		}
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	_, err := cli(t, "", "serve", "-h")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("help: %v", err)
	}
}
