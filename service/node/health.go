package node

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/raftlog"
)

// health is what /readyz reports: Run sets each part as it comes up and
// goes down.
type health struct {
	logOpen atomic.Bool
	nc      atomic.Pointer[nats.Conn]
	svc     atomic.Pointer[service.Service]
	// raft is a cluster node's log, whose Raft state readiness needs.
	raft     atomic.Pointer[raftlog.Log]
	stopping atomic.Bool
	// anonymous is set when the embedded server lets anyone from the
	// network in (Options.AllowAnonymous): /readyz says so.
	anonymous atomic.Bool
}

// readyAnonymous is /readyz's body when ready with Options.AllowAnonymous
// in effect, so that a look at the probe shows the exposure.
const readyAnonymous = "ready (anonymous access from the network allowed)"

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
	if l := h.raft.Load(); l != nil {
		if ok, why := clusterReady(l); !ok {
			return false, why
		}
	}
	if h.anonymous.Load() {
		return true, readyAnonymous
	}
	return true, "ready"
}

// httpHandler serves:
//
//	/healthz  200 while the process runs: a liveness probe
//	/readyz   200 when the log is open, NATS is connected and the service
//	          serves and is not shutting down, and on a node of a cluster
//	          when it knows a leader and has applied what it knows to be
//	          committed; 503 with the reason otherwise
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
