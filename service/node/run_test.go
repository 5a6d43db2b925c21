package node

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evlog/evlog/service"
)

// TestBusyPortFailsAtOnce: an embedded server that cannot listen ends the
// start at once with the reason, and the start leaves no data directory
// behind.
func TestBusyPortFailsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err = Run(ctx, Options{Dir: dir, NATSListen: ln.Addr().String()})
	if took := time.Since(start); took > readyTimeout/2 {
		t.Errorf("failed start took %v", took)
	}
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("run on a busy port: %v, want the listen error", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed start left %s: %v", dir, err)
	}
}

// TestRefusedStartLeavesNoDir: a start that opened a new data directory
// and then failed (here: the prefix is served already) removes it again.
func TestRefusedStartLeavesNoDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ready := make(chan string, 1)
	first := make(chan error, 1)
	firstCtx, stopFirst := context.WithCancel(ctx)
	go func() {
		first <- Run(firstCtx, Options{Dir: t.TempDir(), NATSListen: "127.0.0.1:-1", Ready: func(url string) { ready <- url }})
	}()
	defer func() {
		stopFirst()
		if err := <-first; err != nil {
			t.Errorf("first run: %v", err)
		}
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-first:
		t.Fatalf("first run: %v", err)
	}

	dir := filepath.Join(t.TempDir(), "data")
	err := Run(ctx, Options{Dir: dir, NATSURL: url})
	if !errors.Is(err, service.ErrPrefixInUse) {
		t.Fatalf("second run: %v, want ErrPrefixInUse", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused start left %s: %v", dir, err)
	}
	// A directory that was there stays, with what it held.
	existing := t.TempDir()
	if err := Run(ctx, Options{Dir: existing, NATSURL: url}); !errors.Is(err, service.ErrPrefixInUse) {
		t.Fatalf("third run: %v, want ErrPrefixInUse", err)
	}
	if _, err := os.Stat(existing); err != nil {
		t.Errorf("refused start removed the existing %s: %v", existing, err)
	}
}
