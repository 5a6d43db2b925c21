package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/node"
)

// lines returns n numbered lines with line blank (1-based) left empty.
func lines(n, blank int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i != blank {
			fmt.Fprintf(&b, "v%d", i)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// nextOffset asks the service at url for its next offset.
func nextOffset(t *testing.T, url string) uint64 {
	t.Helper()
	out, err := cli(t, "", "info", "--json", "--nats-url", url)
	if err != nil {
		t.Fatalf("info: %v: %s", err, out)
	}
	var inf messages.InfoReply
	if err := json.Unmarshal([]byte(out), &inf); err != nil {
		t.Fatal(err)
	}
	return inf.NextOffset
}

func TestAppendBadLineAppendsNothing(t *testing.T) {
	url := startServiceWith(t, node.Options{})
	out, err := cli(t, lines(150, 120), "append", "--nats-url", url)
	want := "line 120: empty: a record needs a value or a key (--key); nothing appended"
	if err == nil || exitCode(err) != 1 || err.Error() != want {
		t.Fatalf("err %v, want %q (out %q)", err, want, out)
	}
	if out != "" {
		t.Fatalf("stdout %q: a request was sent", out)
	}
	if n := nextOffset(t, url); n != 0 {
		t.Fatalf("next offset %d: records were appended", n)
	}
	// With a key, an empty line is a record.
	if out, err := cli(t, "a\n\nb\n", "append", "--key", "k", "--nats-url", url); err != nil || out != "appended offsets 0-2\n" {
		t.Fatalf("empty line with a key: %v: %q", err, out)
	}
}

func TestAppendStreamSaysWhatWasAppended(t *testing.T) {
	url := startServiceWith(t, node.Options{})
	out, err := cli(t, lines(150, 120), "append", "--hold-bytes", "10", "--batch", "50", "--nats-url", url)
	want := "line 120: empty: a record needs a value or a key (--key); appended lines 1-100 at offsets 0-99, nothing after"
	if err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q, out %q", err, want, out)
	}
	if !strings.HasPrefix(out, "appended offsets 0-49\nappended offsets 50-99\n") {
		t.Fatalf("stdout %q", out)
	}
	if n := nextOffset(t, url); n != 100 {
		t.Fatalf("next offset %d, want 100", n)
	}
}

func TestAppendNamesTheLineTheServiceRefused(t *testing.T) {
	url := startServiceWith(t, node.Options{MaxRecordBytes: 100})
	in := "a\nb\nc\n" + strings.Repeat("x", 200) + "\n"
	out, err := cli(t, in, "append", "--batch", "2", "--nats-url", url)
	for _, want := range []string{"lines 3-4 not appended (the service refused line 4)", "413", "appended lines 1-2 at offsets 0-1, nothing after"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err %v, want it to say %q", err, want)
		}
	}
	if !strings.HasPrefix(out, "appended offsets 0-1\n") {
		t.Fatalf("out %q", out)
	}
}

func TestAppendNothing(t *testing.T) {
	for _, args := range [][]string{{"append"}, {"append", ""}} {
		// No service: the input is refused before connecting.
		_, err := cli(t, "", append(args, "--nats-url", "nats://127.0.0.1:1")...)
		if err == nil || exitCode(err) != 1 {
			t.Fatalf("%q: err %v, want exit 1", args, err)
		}
		if len(args) == 1 && !errors.Is(err, errNoRecords) {
			t.Fatalf("empty stdin: %v", err)
		}
	}
}
