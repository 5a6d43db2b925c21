package service

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestReadyReasons(t *testing.T) {
	var h health
	want := func(ok bool, reason string) {
		t.Helper()
		gotOK, got := h.ready()
		if gotOK != ok || got != reason {
			t.Fatalf("ready() = %v %q, want %v %q", gotOK, got, ok, reason)
		}
	}
	want(false, "log not open")
	h.logOpen.Store(true)
	want(false, "nats not connected")
	h.stopping.Store(true)
	want(false, "shutting down")
}

func TestHTTPHandler(t *testing.T) {
	var h health
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(httpHandler(&h, reg, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/healthz", 200, "ok\n"},
		{"GET", "/readyz", 503, "log not open\n"},
		{"GET", "/metrics", 200, ""},
		{"POST", "/readyz", 405, ""},
		{"GET", "/", 404, ""},
	} {
		req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.code || (tc.body != "" && string(body) != tc.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, body, tc.code, tc.body)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"metrics addr without port", Options{MetricsAddr: "localhost"}, "MetricsAddr"},
		{"metrics port not a number", Options{MetricsAddr: ":http"}, "MetricsAddr"},
		{"metrics port too large", Options{MetricsAddr: ":65536"}, "MetricsAddr"},
		{"listen with url", Options{NATSURL: "nats://x", NATSListen: ":4222"}, "NATSListen"},
		{"nats config with url", Options{NATSURL: "nats://x", NATSConfigFile: "f"}, "NATSConfigFile"},
		{"tls without url", Options{TLSCAFile: "ca.pem"}, "need NATSURL"},
		{"token and user", Options{NATSURL: "nats://x", Token: "t", User: "u"}, "more than one way"},
		{"creds and nkey", Options{NATSURL: "nats://x", CredsFile: "c", NKeyFile: "n"}, "more than one way"},
		{"password without user", Options{Password: "p"}, "Password without User"},
		{"cert without key", Options{NATSURL: "nats://x", TLSCertFile: "c"}, "go together"},
		{"negative sync interval", Options{SyncInterval: -1}, "SyncInterval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrConfig naming %s", err, tc.want)
			}
		})
	}
	ok := Options{NATSURL: "tls://x", User: "u", Password: "p", TLSCAFile: "ca", TLSCertFile: "c", TLSKeyFile: "k", MetricsAddr: "127.0.0.1:0"}
	if err := ok.validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
}
