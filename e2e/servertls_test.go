package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/service/client"
)

// TestBinaryServerTLS: with --nats-server-tls-cert and -key the embedded
// server's client port speaks TLS only; with --nats-server-tls-ca it
// also requires client certificates from that CA, which counts as
// authentication: it may then listen on every interface.
func TestBinaryServerTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	pki := newTestPKI(t)
	tlsArgs := []string{"--nats-server-tls-cert", pki.serverCert, "--nats-server-tls-key", pki.serverKey}

	t.Run("server certificate", func(t *testing.T) {
		port := freePort(t)
		url := fmt.Sprintf("tls://127.0.0.1:%d", port)
		p := startServe(t, bin, nil, infoProbe(url, nats.RootCAs(pki.caFile)),
			append([]string{"--nats-listen", fmt.Sprintf("127.0.0.1:%d", port)}, tlsArgs...)...)
		c := client.New(connectAs(t, url, nats.RootCAs(pki.caFile)))
		if rep, err := c.Append(ctxT(t), rec(val(0))); err != nil || rep.FirstOffset != 0 {
			t.Fatalf("append over TLS: %+v %v", rep, err)
		}
		// Without the CA the server's certificate is not trusted, and
		// without TLS the server does not talk.
		if _, err := nats.Connect(url); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("without the CA: %v", err)
		}
		if _, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port)); err == nil {
			t.Error("connected without TLS")
		}
		if err := p.signal(t, os.Interrupt); err != nil {
			t.Fatalf("stop: %v\n%s", err, p.stderr)
		}
	})

	t.Run("client certificates", func(t *testing.T) {
		port, metrics := freePort(t), freePort(t)
		url := fmt.Sprintf("tls://127.0.0.1:%d", port)
		withCert := []nats.Option{nats.RootCAs(pki.caFile), nats.ClientCert(pki.clientCert, pki.clientKey)}
		args := append([]string{"--nats-listen", fmt.Sprintf("0.0.0.0:%d", port), "--nats-server-tls-ca", pki.caFile,
			"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metrics)}, tlsArgs...)
		p := startServe(t, bin, nil, infoProbe(url, withCert...), args...)
		c := client.New(connectAs(t, url, withCert...))
		if rep, err := c.Append(ctxT(t), rec(val(0)), rec(val(1))); err != nil || rep.LastOffset != 1 {
			t.Fatalf("append with a client certificate: %+v %v", rep, err)
		}
		if nc, err := nats.Connect(url, nats.RootCAs(pki.caFile)); err == nil {
			nc.Close()
			t.Error("connected without a client certificate")
		}
		code, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", metrics))
		http.DefaultClient.CloseIdleConnections()
		if code != http.StatusOK || body != "ready\n" {
			t.Errorf("/readyz with client certificates required: %d %q", code, body)
		}
		if err := p.signal(t, os.Interrupt); err != nil {
			t.Fatalf("stop: %v\n%s", err, p.stderr)
		}
	})
}
