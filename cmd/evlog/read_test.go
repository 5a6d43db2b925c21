package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/evlog/evlog/service/node"
	"github.com/evlog/evlog/service/servicetest"
)

func TestReadOffsets(t *testing.T) {
	// Replies of at most 100 bytes make read page through the log.
	url := startServiceWith(t, node.Options{MaxRecordBytes: 100, MaxReadBytes: 100})
	c := func(args ...string) (string, error) {
		t.Helper()
		return cli(t, "", append([]string{args[0], "--nats-url", url}, args[1:]...)...)
	}
	if out, err := c("read", "--offset", "latest"); err != nil || out != "" {
		t.Fatalf("latest of an empty log: %v: %q", err, out)
	}
	in := ""
	for i := range 10 {
		in += strings.Repeat(string(rune('a'+i)), 40) + "\n"
	}
	if out, err := cli(t, in, "append", "--nats-url", url); err != nil {
		t.Fatalf("append: %v: %s", err, out)
	}
	out, err := c("read", "--offset", "latest")
	if err != nil || !strings.HasPrefix(out, "9\t") || !strings.HasSuffix(out, "\t"+strings.Repeat("j", 40)+"\n") {
		t.Fatalf("read --offset latest: %v: %q", err, out)
	}
	if out, err := c("read", "--offset", "next", "--wait", "10ms"); err != nil || out != "" {
		t.Fatalf("read --offset next: %v: %q", err, out)
	}
	out, err = c("read", "--max", "100")
	if n := strings.Count(out, "\n"); err != nil || n != 10 {
		t.Fatalf("read --max 100 returned %d records, want all 10: %v: %q", n, err, out)
	}
	out, err = c("read", "--offset", "3", "--max", "4")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 4 || !strings.HasPrefix(lines[3], "6\t") {
		t.Fatalf("read --offset 3 --max 4: %v: %q", err, out)
	}
	if _, err := c("read", "--max", "0"); err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "--max") {
		t.Fatalf("read --max 0: %v", err)
	}
}

func TestTextOutputShowsHeaders(t *testing.T) {
	url := startServiceWith(t, node.Options{})
	if out, err := cli(t, "", "append", "--nats-url", url, "--key", "k", "--header", "b=2", "--header", "a=x\ty", "v"); err != nil {
		t.Fatalf("append: %v: %s", err, out)
	}
	out, err := cli(t, "", "read", "--nats-url", url)
	if want := "\tkey=k\ta=\"x\\ty\"\tb=2\tv\n"; err != nil || !strings.HasSuffix(out, want) {
		t.Fatalf("read: %v: %q, want it to end %q", err, out, want)
	}
}

func TestTruncateNeedsLowest(t *testing.T) {
	_, err := cli(t, "", "truncate", "--nats-url", "nats://127.0.0.1:1")
	if err == nil || exitCode(err) != 2 || err.Error() != "--lowest is required" {
		t.Fatalf("truncate without --lowest: %v", err)
	}
}

func TestTailFromLatest(t *testing.T) {
	url := startServiceWith(t, node.Options{})
	if _, err := cli(t, "", "append", "--nats-url", url, "old", "last"); err != nil {
		t.Fatal(err)
	}
	out := runTail(t, url, "new", "--nats-url", url)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "1\t") || !strings.HasSuffix(lines[0], "\tlast") || !strings.HasPrefix(lines[1], "2\t") {
		t.Fatalf("tail printed %q, want the last record and the new one", out)
	}
}

// runTail runs evlog tail args, appends value once tail has started, and
// returns what tail printed until the value arrived.
func runTail(t *testing.T, url, value string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out servicetest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"tail"}, args...), strings.NewReader(""), &out, &out)
	}()
	waitOutput(t, &out, "\t")
	if _, err := cli(t, "", "append", "--nats-url", url, value); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, &out, value)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tail: %v", err)
	}
	return out.String()
}

// waitOutput waits for s to appear in out.
func waitOutput(t *testing.T, out *servicetest.Buffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %q", s, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTailSaysItWaitsForTheService(t *testing.T) {
	url, _ := runNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb servicetest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"tail", "--from", "0", "--nats-url", url, "--nats-user", "app", "--nats-password", "apppw"},
			strings.NewReader(""), &out, &errb)
	}()
	waitOutput(t, &errb, "waiting for the service")
	startServiceWith(t, node.Options{NATSURL: url, User: "evlog", Password: "evlogpw"})
	waitOutput(t, &errb, "the service is back")
	if _, err := cli(t, "", "append", "--nats-url", url, "--nats-user", "app", "--nats-password", "apppw", "hello"); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, &out, "\thello")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tail: %v", err)
	}
	if n := strings.Count(errb.String(), "waiting"); n != 1 {
		t.Fatalf("said it waits %d times: %q", n, errb.String())
	}
}
