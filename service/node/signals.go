package node

import (
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// exit ends the process on a second signal; a variable for tests.
var exit = os.Exit

// signals catches SIGINT and SIGTERM for one run: the first is handed to
// the run, which stops gracefully; a second exits the process at once.
type signals struct {
	c     chan os.Signal
	first chan os.Signal // gets the first signal
	done  chan struct{}  // closed by stop
	wg    sync.WaitGroup
}

// catchSignals starts catching; stop undoes it.
func catchSignals(logger *slog.Logger) *signals {
	s := &signals{c: make(chan os.Signal, 2), first: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(s.c, os.Interrupt, syscall.SIGTERM)
	s.wg.Go(func() {
		select {
		case sig := <-s.c:
			s.first <- sig
		case <-s.done:
			return
		}
		select {
		case sig := <-s.c:
			logger.Error("second signal: exiting at once; the log recovers on the next start", "signal", sig.String())
			exit(1)
		case <-s.done:
		}
	})
	return s
}

// stop stops catching signals and waits for the goroutine that did.
func (s *signals) stop() {
	signal.Stop(s.c)
	close(s.done)
	s.wg.Wait()
}
