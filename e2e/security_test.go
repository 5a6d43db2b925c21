package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/service/client"
)

// startServe runs `evlog serve args` with env added to the test's
// environment and waits until probe succeeds.
func startServe(t *testing.T, bin string, env []string, probe func() error, args ...string) *proc {
	t.Helper()
	p := &proc{
		cmd:    exec.Command(bin, append([]string{"serve", "--dir", t.TempDir()}, args...)...),
		stderr: &bytes.Buffer{},
		done:   make(chan error, 1),
	}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start evlog: %v", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := probe()
		if err == nil {
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("evlog serve exited early: %v\n%s", err, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("evlog serve did not answer in time: %v\n%s", err, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// infoProbe connects with opts and asks the service for its info.
func infoProbe(url string, opts ...nats.Option) func() error {
	return func() error {
		nc, err := nats.Connect(url, opts...)
		if err != nil {
			return err
		}
		defer nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = client.New(nc).Info(ctx)
		return err
	}
}

// httpGet returns the status and body of GET url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestBinaryRefusesAnonymousExposure: an embedded server on every
// interface without authentication is refused at once with exit code 2
// and the options that fix it; --allow-anonymous starts it, with a
// warning in the log and in /readyz.
func TestBinaryRefusesAnonymousExposure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, "serve", "--dir", dir, "--nats-listen", "0.0.0.0:-1").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exposed start: %v, want exit 2\n%s", err, out)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("refusal took %v", took)
	}
	for _, want := range []string{"--nats-config FILE", "--allow-anonymous", "0.0.0.0"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("refusal does not name %s:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused start created %s", dir)
	}

	port, metrics := freePort(t), freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	p := startServe(t, bin, nil, infoProbe(url),
		"--nats-listen", fmt.Sprintf("0.0.0.0:%d", port), "--allow-anonymous", "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metrics))
	code, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", metrics))
	if code != http.StatusOK || body != "ready (anonymous access from the network allowed)\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	http.DefaultClient.CloseIdleConnections()
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.stderr)
	}
	if log := p.stderr.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "anonymous access from the network allowed") {
		t.Errorf("no warning logged:\n%s", log)
	}
}
