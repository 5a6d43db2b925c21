package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/evlog/evlog/service/node"
	"github.com/evlog/evlog/service/servicetest"
)

// runNATS starts a nats-server on a random loopback port, with the users
// of the tests: "evlog" for the service, "app" who may do anything,
// "reader" who may not append, and the nkey user of seedFile.
func runNATS(t *testing.T) (url, seedFile string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile = filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	ns := servicetest.NATS(t, func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "evlog", Password: "evlogpw"},
			{Username: "app", Password: "apppw"},
			{Username: "reader", Password: "readerpw", Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{Deny: []string{"evlog.append"}},
			}},
		}
		o.Nkeys = []*server.NkeyUser{{Nkey: pub}}
	})
	return ns.ClientURL(), seedFile
}

// startServiceWith runs the service with o (in a new data directory)
// until the test ends and returns its client URL; without o.NATSURL it
// starts an embedded server on a random port.
func startServiceWith(t *testing.T, o node.Options) string {
	t.Helper()
	if o.NATSURL == "" {
		o.NATSListen = "127.0.0.1:-1"
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	o.Dir = t.TempDir()
	o.Ready = func(url string) { ready <- url }
	go func() { done <- node.Run(ctx, o) }()
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

func TestClientNATSAuth(t *testing.T) {
	url, seed := runNATS(t)
	startServiceWith(t, node.Options{NATSURL: url, User: "evlog", Password: "evlogpw"})

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"user and password", nil, []string{"--nats-user", "app", "--nats-password", "apppw"}},
		{"environment", map[string]string{"EVLOG_NATS_USER": "app", "EVLOG_NATS_PASSWORD": "apppw"}, nil},
		{"nkey seed", nil, []string{"--nats-nkey", seed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{"info", "--nats-url", url}, tc.args...)
			if out, err := cli(t, "", args...); err != nil || !strings.Contains(out, "next offset") {
				t.Fatalf("info: %v: %s", err, out)
			}
		})
	}

	if out, err := cli(t, "", "info", "--nats-url", url, "--nats-user", "app", "--nats-password", "wrong"); err == nil || exitCode(err) != 1 ||
		!strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("wrong password: %v: %s", err, out)
	}
	if _, err := cli(t, "", "info", "--nats-url", url, "--nats-token", "t", "--nats-user", "app"); err == nil || exitCode(err) != 2 {
		t.Fatalf("two ways to authenticate: %v", err)
	}
}

func TestClientPermissionViolationIsImmediate(t *testing.T) {
	url, _ := runNATS(t)
	startServiceWith(t, node.Options{NATSURL: url, User: "evlog", Password: "evlogpw"})
	start := time.Now()
	out, err := cli(t, "", "append", "--nats-url", url, "--nats-user", "reader", "--nats-password", "readerpw", "--timeout", "15s", "x")
	if err == nil || !strings.Contains(err.Error(), `Permissions Violation for Publish to "evlog.append"`) {
		t.Fatalf("append without permission: %v: %s", err, out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the refusal took %v, as if it waited out --timeout", d)
	}
	// The same user may still read.
	if out, err := cli(t, "", "info", "--nats-url", url, "--nats-user", "reader", "--nats-password", "readerpw"); err != nil {
		t.Fatalf("reader info: %v: %s", err, out)
	}
}
