package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/client"
)

// buildBinary builds cmd/evlog into a temporary directory.
func buildBinary(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "evlog")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/evlog/evlog/cmd/evlog").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a loopback port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a running `evlog serve`.
type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
	done   chan error
}

// startBinary runs `evlog serve` on dir and waits until it answers info.
func startBinary(tb testing.TB, bin, dir string, extra ...string) *proc {
	tb.Helper()
	port := freePort(tb)
	args := append([]string{"serve", "--dir", dir, "--nats-listen", fmt.Sprintf("127.0.0.1:%d", port)}, extra...)
	p := &proc{
		cmd:    exec.Command(bin, args...),
		url:    fmt.Sprintf("nats://127.0.0.1:%d", port),
		stderr: &bytes.Buffer{},
		done:   make(chan error, 1),
	}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start evlog: %v", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	tb.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if nc, err := nats.Connect(p.url); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err = client.New(nc).Info(ctx)
			cancel()
			nc.Close()
			if err == nil {
				return p
			}
		}
		select {
		case err := <-p.done:
			tb.Fatalf("evlog serve exited early: %v\n%s", err, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("evlog serve did not answer in time\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig and waits for the process to exit.
func (p *proc) signal(tb testing.TB, sig os.Signal) error {
	tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("signal: %v", err)
	}
	select {
	case err := <-p.done:
		return err
	case <-time.After(30 * time.Second):
		tb.Fatalf("evlog serve did not exit after %v\n%s", sig, p.stderr)
		return nil
	}
}

func TestBinaryServeRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()

	p := startBinary(t, bin, dir)
	nc := connect(t, p.url)
	c := client.New(nc)
	ctx := ctxT(t)
	for i := range 10 {
		rep, err := c.Append(ctx, rec(val(2*i)), rec(val(2*i+1)))
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if rep.FirstOffset != uint64(2*i) || rep.LastOffset != uint64(2*i+1) {
			t.Fatalf("append %d got %+v", i, rep)
		}
	}
	nc.Close()
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("graceful stop exited with %v\n%s", err, p.stderr)
	}
	if !bytes.Contains(p.stderr.Bytes(), []byte("evlog.append")) {
		t.Errorf("serve did not say which subjects it serves:\n%s", p.stderr)
	}

	p = startBinary(t, bin, dir)
	nc = connect(t, p.url)
	c = client.New(nc)
	info, err := c.Info(ctx)
	if err != nil || info.NextOffset != 20 {
		t.Fatalf("after restart info %+v, %v", info, err)
	}
	rep, err := c.Append(ctx, rec([]byte("after")))
	if err != nil || rep.FirstOffset != 20 {
		t.Fatalf("append after restart: %+v, %v", rep, err)
	}
	rr, err := c.Read(ctx, 0, client.ReadOptions{MaxRecords: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Records) != 21 || rr.NextOffset != 21 {
		t.Fatalf("read %d records, next %d", len(rr.Records), rr.NextOffset)
	}
	for i, r := range rr.Records[:20] {
		if !bytes.Equal(r.Value, val(i)) || r.Offset != uint64(i) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	nc.Close()
	if err := p.signal(t, os.Interrupt); err != nil {
		t.Fatalf("graceful stop exited with %v\n%s", err, p.stderr)
	}
}

func TestBinaryRefusesSecondInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	p := startBinary(t, bin, t.TempDir())
	// A second instance joins the first one's server with the same prefix.
	out, err := exec.Command(bin, "serve", "--dir", t.TempDir(), "--nats-url", p.url).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("second instance: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte(messages.DefaultPrefix)) {
		t.Fatalf("second instance did not name the prefix:\n%s", out)
	}
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
}
