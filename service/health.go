package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// health is what /readyz reports: Run sets each part as it comes up and
// goes down.
type health struct {
	logOpen  atomic.Bool
	nc       atomic.Pointer[nats.Conn]
	svc      atomic.Pointer[Service]
	stopping atomic.Bool
}

// ready says whether the process can serve, and if not, why not.
func (h *health) ready() (bool, string) {
	if h.stopping.Load() {
		return false, "shutting down"
	}
	if !h.logOpen.Load() {
		return false, "log not open"
	}
	nc := h.nc.Load()
	if nc == nil {
		return false, "nats not connected"
	}
	if !nc.IsConnected() {
		return false, "nats " + nc.Status().String()
	}
	svc := h.svc.Load()
	if svc == nil {
		return false, "service not started"
	}
	if err := svc.Err(); err != nil {
		return false, "service failed: " + err.Error()
	}
	return true, "ready"
}

// httpHandler serves:
//
//	/healthz  200 while the process runs: a liveness probe
//	/readyz   200 when the log is open, NATS is connected and the service
//	          serves and is not shutting down; 503 with the reason otherwise
//	/metrics  the Prometheus metrics of reg
func httpHandler(h *health, reg *prometheus.Registry, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, reason := h.ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, reason)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}))
	return mux
}

// httpShutdownTimeout bounds the wait for scrapes and probes in flight.
const httpShutdownTimeout = 5 * time.Second

// listenHTTP binds addr; the server starts at once, so that /healthz
// answers while the log is still being recovered.
func listenHTTP(addr string, handler http.Handler, logger *slog.Logger) (actor, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return actor{}, nil, fmt.Errorf("metrics listener: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("metrics and health listening", "addr", ln.Addr().String())

	stopped := make(chan struct{})
	var once sync.Once
	var serveErr error
	wait := sync.OnceFunc(func() { serveErr = <-served })
	return actor{
		execute: func() error {
			wait()
			select {
			case <-stopped:
				return nil
			default:
				return fmt.Errorf("metrics server: %w", serveErr)
			}
		},
		interrupt: func(error) {
			once.Do(func() {
				close(stopped)
				ctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
				defer cancel()
				if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
					logger.Warn("metrics server shutdown", "error", err)
				}
				srv.Close()
				wait()
			})
		},
	}, ln.Addr(), nil
}

// checkAddr checks a host:port to listen on.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}
