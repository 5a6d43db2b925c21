package node

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/local"
	"github.com/evlog/evlog/service/raftlog"
)

// node is one Run: the resources it has opened so far. Each step below
// opens one; Run defers its close.
type node struct {
	o      Options
	logger *slog.Logger
	h      health
	reg    *prometheus.Registry // nil without Options.MetricsAddr
	damage *damageReporter      // the log's OnDamage

	http      *httpServer // nil without Options.MetricsAddr
	ns        *embedded   // nil with Options.NATSURL
	clientURL string
	nc        *nats.Conn
	ncClosed  chan struct{} // closed when nc is
	log       *segment.Log
	rolled    chan struct{}  // the log rolled: wakes the retention actor
	newDir    bool           // Options.Dir did not exist before this run
	local     *local.Log     // the service's view of log
	rlog      *raftlog.Log   // a cluster node's log, in place of log and local
	status    *clusterStatus // a cluster node's status responders
	svc       *service.Service
	served    bool // the run got as far as serving
}

// Run serves a log until ctx is done or the process gets SIGINT or
// SIGTERM, then stops gracefully: the service stops taking requests and
// acknowledges what it has written, the log is synced and closed, the
// connection drains, and the embedded server (if any) shuts down. A second
// signal during that exits the process at once; the log's files stay
// recoverable, since nothing acknowledged depends on what the shutdown
// would still have done. Run returns nil after a requested stop, and
// otherwise the error that ended it, joined with any error of the
// shutdown. Options that cannot work are refused before anything starts,
// with an error wrapping ErrConfig.
func Run(ctx context.Context, o Options) (err error) {
	if err := o.Validate(); err != nil {
		return err
	}
	n := newNode(o.withDefaults())
	defer n.stopped()
	// Signals are caught from the start, so that one during start-up
	// still ends in a graceful stop.
	sigs := catchSignals(n.logger)
	defer sigs.stop()

	// Each resource is opened once what it needs is up, and closed by its
	// defer in the reverse order; every close first flips readiness. The
	// HTTP listener is first up and last down: /healthz answers while a
	// long recovery runs, and /readyz says "shutting down" to the end.
	// NATS comes before the log, so that a server that cannot listen or a
	// connection turned away fails the start before it touches the disk.
	if err = n.listenHTTP(); err != nil {
		return err
	}
	defer n.closeHTTP()
	if err = n.startServer(); err != nil {
		return err
	}
	defer n.shutdownServer()
	if err = n.connect(); err != nil {
		return err
	}
	defer n.drain()
	if err = n.openLog(); err != nil {
		return err
	}
	defer n.closeLog(&err)
	if err = n.startService(); err != nil {
		return err
	}
	defer n.stopService(&err)
	return n.serve(ctx, sigs.first)
}

func newNode(o Options) *node {
	n := &node{o: o, logger: o.Logger, damage: newDamageReporter(o.Logger.With("component", "segment")),
		rolled: make(chan struct{}, 1)}
	if o.MetricsAddr != "" {
		n.reg = prometheus.NewRegistry()
		n.reg.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
			collectors.NewBuildInfoCollector(),
			n.damage.count,
		)
	}
	return n
}

// stopped reports the end of a run that got as far as serving.
func (n *node) stopped() {
	if n.served {
		n.logger.Info("stopped")
	}
}

// errStop ends the run group on a requested stop: a signal or the
// context. It is not an error to report.
var errStop = errors.New("stop requested")

// serve runs until a signal, the end of ctx or the failure of a resource.
// The group holds only the loops that wait for one of these; it stops
// nothing itself, which Run's defers do once it has returned.
func (n *node) serve(ctx context.Context, signals <-chan os.Signal) error {
	if n.o.Ready != nil {
		n.o.Ready(n.clientURL)
	}
	n.served = true
	var g run.Group
	// Added first, so that its interrupt runs first whatever ends the
	// group: readiness flips before anything stops.
	g.Add(n.awaitStop(ctx, signals))
	addWatch(&g, n.svc.Failed(), n.svc.Err)
	addWatch(&g, n.ncClosed, func() error { return errors.New("nats connection closed") })
	if n.ns != nil {
		addWatch(&g, n.ns.down, func() error { return errors.New("embedded nats-server shut down") })
	}
	if n.http != nil {
		addWatch(&g, n.http.done, n.http.err)
	}
	if !n.o.retentionPolicy().Off() {
		g.Add(n.retain())
	}
	err := g.Run()
	if errors.Is(err, errStop) {
		return nil
	}
	n.logger.Error("stopped on failure", "error", err)
	return err
}

// awaitStop is the actor that ends the group on a signal or the end of
// ctx.
func (n *node) awaitStop(ctx context.Context, signals <-chan os.Signal) (func() error, func(error)) {
	stop := make(chan struct{})
	execute := func() error {
		var reason []any
		select {
		case sig := <-signals:
			reason = []any{"signal", sig.String()}
		case <-ctx.Done():
			reason = []any{"cause", context.Cause(ctx)}
		case <-stop:
			return errStop
		}
		n.h.stopping.Store(true)
		n.logger.Info("stopping", reason...)
		return errStop
	}
	interrupt := func(error) {
		n.h.stopping.Store(true)
		close(stop)
	}
	return execute, interrupt
}

// addWatch adds an actor that ends the group with fail() once done is
// closed: a resource has failed on its own.
func addWatch(g *run.Group, done <-chan struct{}, fail func() error) {
	stop := make(chan struct{})
	g.Add(func() error {
		select {
		case <-done:
			return fail()
		case <-stop:
			return nil
		}
	}, func(error) { close(stop) })
}
