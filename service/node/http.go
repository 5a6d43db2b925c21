package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// httpShutdownTimeout bounds the wait for scrapes and probes in flight.
const httpShutdownTimeout = 5 * time.Second

// httpServer serves /metrics, /healthz and /readyz from its own
// goroutine, which close ends and waits for.
type httpServer struct {
	srv      *http.Server
	logger   *slog.Logger
	done     chan struct{} // closed when Serve has returned
	serveErr error         // what Serve returned; read after done
}

// listenHTTP binds Options.MetricsAddr, if set, and serves at once, so
// that /healthz answers while the log is still being recovered.
func (n *node) listenHTTP() error {
	if n.o.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", n.o.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	logger := n.logger.With("component", "http")
	s := &httpServer{
		srv: &http.Server{
			Handler:           httpHandler(&n.h, n.reg, logger),
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		},
		logger: logger,
		done:   make(chan struct{}),
	}
	go func() {
		s.serveErr = s.srv.Serve(ln)
		close(s.done)
	}()
	n.http = s
	logger.Info("metrics and health listening", "addr", ln.Addr().String())
	if n.o.MetricsReady != nil {
		n.o.MetricsReady(ln.Addr().String())
	}
	return nil
}

// err is why the server stopped serving on its own.
func (s *httpServer) err() error {
	return fmt.Errorf("metrics server: %w", s.serveErr)
}

// closeHTTP lets requests in flight finish, for a while, and stops the
// server.
func (n *node) closeHTTP() {
	n.h.stopping.Store(true)
	s := n.http
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		s.logger.Warn("metrics server shutdown", "error", err)
	}
	s.srv.Close()
	<-s.done
}
