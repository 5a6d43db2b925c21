package e2e

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestBinaryServeBusyPort: `evlog serve` on a port in use exits at once,
// with status 1, saying why, and creates no data directory.
func TestBinaryServeBusyPort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "data")

	var stderr bytes.Buffer
	cmd := exec.Command(bin, "serve", "--dir", dir, "--nats-listen", ln.Addr().String())
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("failed start took %v", took)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("serve on a busy port: %v, want exit status 1\n%s", err, &stderr)
	}
	// The last line is the error serve exits with.
	lines := bytes.Split(bytes.TrimSpace(stderr.Bytes()), []byte("\n"))
	if last := lines[len(lines)-1]; !bytes.HasPrefix(last, []byte("evlog: ")) || !bytes.Contains(last, []byte("address already in use")) {
		t.Errorf("serve ended with %q, want the listen error\n%s", last, &stderr)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed start left %s: %v", dir, err)
	}
}
