package servicetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNATS checks that the server listens on loopback only, applies the
// caller's options and answers a request.
func TestNATS(t *testing.T) {
	ns := NATS(t, func(o *server.Options) { o.MaxPayload = 4096 })
	if !strings.HasPrefix(ns.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("client URL %s, want loopback", ns.ClientURL())
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if nc.MaxPayload() != 4096 {
		t.Fatalf("max payload %d, want the option's 4096", nc.MaxPayload())
	}
	sub, err := nc.Subscribe("echo", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	m, err := nc.Request("echo", []byte("hi"), 5*time.Second)
	if err != nil || string(m.Data) != "hi" {
		t.Fatalf("request: %v", err)
	}
}

// TestBuffer writes from several goroutines while reading, as a logger
// and a test do; the race detector checks it.
func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { fmt.Fprintf(&b, "line %d\n", i) })
		_ = b.String()
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line "); got != 4 {
		t.Fatalf("%d lines in %q, want 4", got, b.String())
	}
}
