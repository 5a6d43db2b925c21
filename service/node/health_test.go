package node

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
