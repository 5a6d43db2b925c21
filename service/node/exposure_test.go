package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeConf writes a nats-server config file for the embedded server.
func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const usersConf = `authorization { users = [ {user: evlog, password: pw} ] }`

// TestExposureRefused: an embedded server that would take anyone from
// the network is refused, with the options that fix it named; loopback
// and authenticated servers are not.
func TestExposureRefused(t *testing.T) {
	users := writeConf(t, usersConf)
	noAuthUser := writeConf(t, usersConf+"\nno_auth_user: evlog\n")
	listenAny := writeConf(t, "listen: 0.0.0.0:-1\n")
	portOnly := writeConf(t, "port: -1\n")
	for _, tc := range []struct {
		name    string
		o       Options
		refused bool
	}{
		{"any interface", Options{NATSListen: "0.0.0.0:-1"}, true},
		{"empty host", Options{NATSListen: ":-1"}, true},
		{"ipv6 any", Options{NATSListen: "[::]:-1"}, true},
		{"host name", Options{NATSListen: "evlog.example.com:4222"}, true},
		{"config listen", Options{NATSConfigFile: listenAny}, true},
		{"config port only", Options{NATSConfigFile: portOnly}, true},
		{"no auth user", Options{NATSConfigFile: noAuthUser, NATSListen: "0.0.0.0:-1", User: "evlog", Password: "pw"}, true},
		{"default", Options{}, false},
		{"loopback", Options{NATSListen: "127.0.0.2:-1"}, false},
		{"localhost", Options{NATSListen: "localhost:-1"}, false},
		{"ipv6 loopback", Options{NATSListen: "[::1]:-1"}, false},
		{"users", Options{NATSConfigFile: users, NATSListen: "0.0.0.0:-1", User: "evlog", Password: "pw"}, false},
		{"allowed", Options{NATSListen: "0.0.0.0:-1", AllowAnonymous: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if !tc.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
			for _, want := range []string{"--nats-config FILE", "--allow-anonymous", "from the network"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%v does not name %s", err, want)
				}
			}
		})
	}
}

// TestRunRefusesExposureAtOnce: Run refuses before it creates anything.
func TestRunRefusesExposureAtOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	start := time.Now()
	err := Run(context.Background(), Options{Dir: dir, NATSListen: "0.0.0.0:-1"})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "--allow-anonymous") {
		t.Fatalf("run: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("refusal took %v", took)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused start left %s: %v", dir, err)
	}
}

// syncBuffer is a log sink that Run writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAllowAnonymousWarns: with AllowAnonymous the server starts on every
// interface, and both the log and /readyz say that anyone may connect.
func TestAllowAnonymousWarns(t *testing.T) {
	var logs syncBuffer
	metrics := make(chan string, 1)
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Dir: t.TempDir(), NATSListen: "0.0.0.0:-1", AllowAnonymous: true, MetricsAddr: "127.0.0.1:0",
			Logger:       slog.New(slog.NewTextHandler(&logs, nil)),
			MetricsReady: func(addr string) { metrics <- addr },
			Ready:        func(url string) { ready <- url },
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	addr := <-metrics
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != readyAnonymous+"\n" {
		t.Errorf("/readyz: %d %q %v, want 200 %q", resp.StatusCode, body, err, readyAnonymous)
	}
	http.DefaultClient.CloseIdleConnections()
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "anonymous access from the network allowed") {
		t.Errorf("no warning logged:\n%s", out)
	}
}

// TestConnectErrorHidesPassword: a --nats-url that carries credentials
// does not put them into the error that ends the start.
func TestConnectErrorHidesPassword(t *testing.T) {
	for _, url := range []string{
		"nats://evlog:s3cret-pw@127.0.0.1:1",
		"nats://s3cret-token@127.0.0.1:1",
		"nats://127.0.0.1:1,nats://evlog:s3cret-pw@127.0.0.1:2",
	} {
		err := Run(context.Background(), Options{Dir: t.TempDir(), NATSURL: url})
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v", url, err)
		}
	}
}
