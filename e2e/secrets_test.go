package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/service/client"
)

// exercise runs a few requests, one refused, one connect with a wrong
// password, and returns what the service shows of itself: /metrics and
// the replies to $SRV.INFO and $SRV.STATS.
func exercise(t *testing.T, url string, metrics int, auth nats.Option) string {
	t.Helper()
	nc := connectAs(t, url, auth)
	c := client.New(nc)
	ctx := ctxT(t)
	if _, err := c.Append(ctx, rec(val(0))); err != nil {
		t.Fatalf("append: %v", err)
	}
	if _, err := c.Info(ctx); err != nil {
		t.Fatalf("info: %v", err)
	}
	if nc, err := nats.Connect(url, nats.UserInfo("evlog", "wrong-password")); err == nil {
		nc.Close()
		t.Error("connected with a wrong password")
	}
	var shown strings.Builder
	for _, subject := range []string{"$SRV.INFO", "$SRV.STATS", "$SRV.PING"} {
		msg, err := nc.Request(subject, nil, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		shown.Write(msg.Data)
	}
	_, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics))
	http.DefaultClient.CloseIdleConnections()
	shown.WriteString(body)
	return shown.String()
}

// noSecret fails the test if any secret appears in any of the texts.
func noSecret(t *testing.T, secrets []string, texts map[string]string) {
	t.Helper()
	for where, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the secret %q", where, s)
			}
		}
	}
}

// TestBinaryKeepsSecrets runs the binary with passwords in the
// environment and a token on the command line, logging everything down
// to the embedded server's protocol traces, and finds neither in its log,
// its metrics, its $SRV replies or its help.
func TestBinaryKeepsSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)

	t.Run("passwords in the environment", func(t *testing.T) {
		metrics := freePort(t)
		r := startWithRoles(t, bin, "--log-level", "debug", "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metrics))
		shown := exercise(t, r.url, metrics, nats.UserInfo("admin", r.pw["admin"]))
		producer := r.as(t, "producer")
		refusedAtOnce(t, "producer truncate", func(ctx context.Context) error { _, err := producer.c.Truncate(ctx, 1); return err })
		if err := r.p.signal(t, os.Interrupt); err != nil {
			t.Fatalf("stop: %v", err)
		}
		var secrets []string
		for _, pw := range r.pw {
			secrets = append(secrets, pw)
		}
		noSecret(t, secrets, map[string]string{"the log": r.p.stderr.String(), "metrics and $SRV": shown})
	})

	t.Run("token on the command line", func(t *testing.T) {
		const token = "tok-0123456789-s3cret"
		conf := filepath.Join(t.TempDir(), "nats.conf")
		if err := os.WriteFile(conf, []byte(`authorization { token: "`+token+`" }`+"\ndebug: true\ntrace: true\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		port, metrics := freePort(t), freePort(t)
		url := fmt.Sprintf("nats://127.0.0.1:%d", port)
		args := []string{"--nats-config", conf, "--nats-token", token, "--nats-listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--log-level", "debug-4", "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metrics)}
		p := startServe(t, bin, nil, infoProbe(url, nats.Token(token)), args...)
		shown := exercise(t, url, metrics, nats.Token(token))
		if err := p.signal(t, os.Interrupt); err != nil {
			t.Fatalf("stop: %v", err)
		}
		log := p.stderr.String()
		if !strings.Contains(log, "CONNECT") {
			t.Errorf("the log has no protocol traces, so the check proves little:\n%.2000s", log)
		}
		noSecret(t, []string{token}, map[string]string{"the log": log, "metrics and $SRV": shown})
	})

	t.Run("help", func(t *testing.T) {
		cmd := exec.Command(bin, "serve", "--nats-token", "tok-in-a-flag-s3cret", "--help")
		cmd.Env = append(os.Environ(), "EVLOG_NATS_PASSWORD=pw-in-the-env-s3cret", "EVLOG_NATS_USER=evlog")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("serve --help: %v\n%s", err, out.String())
		}
		noSecret(t, []string{"s3cret"}, map[string]string{"serve --help": out.String()})
	})
}
