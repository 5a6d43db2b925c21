package service

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/evlog/evlog/messages"
)

// Service serves one Log on one subject prefix. Create it with New and
// stop it with Stop; it owns its goroutines but neither the log nor the
// connection.
type Service struct {
	cfg      Config
	nc       *nats.Conn
	log      Log
	subjects messages.Subjects
	logger   *slog.Logger
	// maxRecordBytes is cfg.MaxRecordBytes lowered to what a read reply
	// on this connection can carry.
	maxRecordBytes int
	micro          micro.Service
	metrics        *metrics
	events         *eventMetrics
	poller         *poller
	snapshots      *snapshotRunner
	announcer      *announcer
	// leaderWrites serves the write endpoints while this node leads;
	// nil on a single node (Config.Leadership nil).
	leaderWrites *leaderWrites

	// mu guards stopping. Handlers join inflight under mu while stopping
	// is false, so that Stop, once it has set stopping, can wait for the
	// last of them before detaching from the log.
	mu       sync.Mutex
	stopping bool
	inflight sync.WaitGroup

	// pending counts the appends handed to the log and not yet answered.
	pending atomic.Int64
	// commitBody is onCommit's reply buffer; commits come one at a time.
	commitBody []byte

	stopOnce sync.Once
	stopErr  error
}

// errStopping answers the requests that arrive while the service stops.
var errStopping = fmt.Errorf("%w: service is shutting down", ErrUnavailable)

// New starts serving log on nc under cfg.Prefix. It refuses to start, with
// ErrPrefixInUse, when something already answers the prefix's info
// subject, unless cfg.Leadership makes it a node of a cluster. The caller keeps ownership of nc and log and must call Stop
// before closing either.
func New(nc *nats.Conn, log Log, cfg Config) (*Service, error) {
	if nc == nil || log == nil {
		return nil, fmt.Errorf("%w: nil connection or log", ErrConfig)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if !nc.HeadersSupported() {
		return nil, ErrNoHeaders
	}
	s := &Service{
		cfg:            cfg,
		nc:             nc,
		log:            log,
		subjects:       messages.NewSubjects(cfg.Prefix),
		logger:         cfg.Logger,
		maxRecordBytes: cfg.MaxRecordBytes,
		snapshots:      newSnapshotRunner(cfg.MaxSnapshots),
	}
	if cfg.Leadership != nil {
		s.log = leaderLog{Log: log, ld: cfg.Leadership}
	}
	if limit := int(nc.MaxPayload()) - replyOverhead; s.maxRecordBytes > limit {
		s.logger.Info("record size limited by the NATS max payload", "max_record_bytes", limit, "max_payload", nc.MaxPayload())
		s.maxRecordBytes = limit
	}
	s.metrics = newMetrics(s, log.Recovered())
	s.events = newEventMetrics()
	// The nodes of a cluster share the prefix on purpose.
	if cfg.Leadership == nil {
		if err := s.probe(); err != nil {
			return nil, err
		}
	}
	ann, err := newAnnouncer(nc, s.subjects.Committed, cfg.Leadership, log.CommittedOffset(), s.logger)
	if err != nil {
		return nil, err
	}
	s.announcer = ann
	if err := s.registerMetrics(); err != nil {
		return nil, errors.Join(err, ann.close())
	}
	// Before Attach: the CommitFunc answers parked reads, and a
	// replicated log may deliver a commit as soon as it is attached.
	s.poller = newPoller(log, cfg.MaxParkedReads, s.answerParked)
	if err := log.Attach(s.onCommit); err != nil {
		s.poller.close()
		s.unregisterMetrics()
		return nil, errors.Join(fmt.Errorf("attach to the log: %w", err), ann.close())
	}

	if err := s.register(); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	if cfg.Leadership != nil {
		s.leaderWrites = startLeaderWrites(s, cfg.Leadership)
	}
	s.logger.Info("serving evlog",
		"append", s.subjects.Append, "read", s.subjects.Read,
		"truncate", s.subjects.Truncate, "info", s.subjects.Info, "snapshot", s.subjects.Snapshot,
		"committed", s.subjects.Committed, "events", s.subjects.Events, "next_offset", log.CommittedOffset())
	s.publishRecoveries(log.Recovered())
	return s, nil
}

// probe fails when something answers the info subject. A timeout means
// that something subscribes without answering, such as a monitor on
// "evlog.>", which does not compete for appends.
func (s *Service) probe() error {
	msg, err := s.nc.Request(s.subjects.Info, nil, s.cfg.ProbeTimeout)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil
	case errors.Is(err, nats.ErrTimeout):
		s.logger.Warn("something subscribes to the info subject without answering; starting anyway", "subject", s.subjects.Info)
		return nil
	case err != nil:
		return fmt.Errorf("probe %s: %w", s.subjects.Info, err)
	}
	return fmt.Errorf("%w: %s answered (%d bytes); give this log another prefix", ErrPrefixInUse, s.subjects.Info, len(msg.Data))
}

// register adds the micro service and its endpoints in two groups. The
// writes (append, truncate, see addWrites) have no queue group; on a node
// of a cluster they are not here but on the leader's own micro service
// (leadership.go). The reads (read, info, snapshot) join
// Config.ReadQueueGroup if one is set, and otherwise have none either.
func (s *Service) register() error {
	ms, err := micro.AddService(s.nc, s.microConfig("durable segmented event log"))
	if err != nil {
		return fmt.Errorf("add micro service: %w", err)
	}
	s.micro = ms
	if s.cfg.Leadership == nil {
		if err := s.addWrites(ms); err != nil {
			return err
		}
		// A single node answers them, 501, so that an operator who
		// points the cluster commands at it is told at once.
		if err := s.addMembership(ms); err != nil {
			return err
		}
	}
	readQueue := micro.WithEndpointQueueGroupDisabled()
	if s.cfg.ReadQueueGroup != "" {
		readQueue = micro.WithEndpointQueueGroup(s.cfg.ReadQueueGroup)
	}
	reads := ms.AddGroup(s.cfg.Prefix, micro.WithGroupQueueGroupDisabled())
	for _, e := range []struct {
		ep endpoint
		h  micro.HandlerFunc
	}{{epRead, s.handleRead}, {epInfo, s.handleInfo}, {epSnapshot, s.handleSnapshot}} {
		name := endpointNames[e.ep]
		if err := reads.AddEndpoint(name, s.observe(e.ep, e.h), readQueue); err != nil {
			return fmt.Errorf("add endpoint %s: %w", name, err)
		}
	}
	// Once New returns, a request from any connection must find the
	// subscriptions: make sure the server has them.
	if err := s.nc.FlushTimeout(flushTimeout); err != nil {
		return fmt.Errorf("flush subscriptions: %w", err)
	}
	return nil
}

// microConfig is the configuration of the service's micro services.
func (s *Service) microConfig(description string) micro.Config {
	return micro.Config{
		Name:               s.cfg.Name,
		Version:            s.cfg.Version,
		Description:        description,
		Metadata:           map[string]string{"prefix": s.cfg.Prefix},
		QueueGroupDisabled: true,
		StatsHandler:       s.metrics.endpointStats,
		ErrorHandler: func(_ micro.Service, e *micro.NATSError) {
			s.logger.Warn("nats subscription error", "subject", e.Subject, "error", e.Description)
		},
	}
}

// flushTimeout bounds the round trip that confirms the subscriptions.
const flushTimeout = 10 * time.Second

// Subjects returns the subjects the service answers and publishes on.
func (s *Service) Subjects() messages.Subjects { return s.subjects }

// CommittedOffset returns the offset after the last acknowledged record,
// the offset readers see as the next one.
func (s *Service) CommittedOffset() uint64 { return s.log.CommittedOffset() }

// Stats is a snapshot of the service's state, also published, within
// EndpointStats, as the data of the endpoints in micro's $SRV.STATS
// replies.
type Stats struct {
	// CommittedOffset is the offset after the last acknowledged record.
	CommittedOffset uint64 `json:"committed_offset"`
	// PendingAppends is how many append requests the log holds and the
	// service has not answered yet.
	PendingAppends int `json:"pending_appends"`
	// ParkedReads is how many long-poll reads wait for records.
	ParkedReads int `json:"parked_reads"`
}

// Stats returns a snapshot of the service's state.
func (s *Service) Stats() Stats {
	parked := 0
	if s.poller != nil {
		parked = s.poller.len()
	}
	return Stats{CommittedOffset: s.log.CommittedOffset(), PendingAppends: int(s.pending.Load()), ParkedReads: parked}
}

// Failed is closed when the service can no longer append, after its log
// failed; Err then says why. The owner should stop the service and close
// the log.
func (s *Service) Failed() <-chan struct{} { return s.log.Failed() }

// Err returns the failure that closed Failed, or nil.
func (s *Service) Err() error { return s.log.Err() }

// enter admits a handler unless the service is stopping. An admitted
// handler must call s.inflight.Done.
func (s *Service) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.inflight.Add(1)
	return true
}

// Stop stops serving: requests that still arrive get 503, the appends the
// log holds are answered as they commit (Log.Detach), parked reads are
// answered with the records committed for them or, when there are none,
// with 503. It returns once every request the connection
// received has been answered and the answers have been flushed to the
// server, so the owner may then close the connection and the log. It does
// not close either. Stop is idempotent.
//
// Stop waits for every asynchronous subscription of the connection to
// handle what it has received (nats.Conn.Barrier), so it must not be
// called from a subscription's handler.
func (s *Service) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Service) stop() error {
	start := time.Now()
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	var errs []error
	if s.leaderWrites != nil {
		errs = append(errs, s.leaderWrites.close())
	}
	if s.micro != nil {
		// Drains the endpoint subscriptions: the server stops routing
		// requests to them, and what the connection has already
		// received still reaches the handlers, which refuse it.
		if err := s.micro.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop micro service: %w", err))
		}
		// Without a connection nothing more can arrive, and a flush
		// would only wait out its timeout for a PONG that cannot come.
		if s.nc.IsConnected() {
			errs = append(errs, s.awaitReceived())
		}
	}
	s.inflight.Wait()
	// Snapshots still streaming end with a 503 chunk.
	s.snapshots.stop()
	// No handler calls Append any more: what the log holds is all that
	// remains to answer.
	s.log.Detach()
	// Only now, so that parked reads get the last acknowledged records.
	if s.poller != nil {
		s.poller.close()
	}
	if !s.nc.IsConnected() {
		// Replies still buffered go out if the connection comes back
		// before its owner closes it; waiting here cannot help them.
		s.logger.Warn("stopping while disconnected from NATS: the last replies may not be delivered")
	} else if err := s.nc.FlushTimeout(flushTimeout); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		errs = append(errs, fmt.Errorf("flush replies: %w", err))
	}
	errs = append(errs, s.announcer.close())
	s.unregisterMetrics()
	s.logger.Info("service stopped", "next_offset", s.log.CommittedOffset(), "took", time.Since(start))
	return errors.Join(errs...)
}

// awaitReceived returns once the handlers have seen every request the
// server routed to the service before it processed the unsubscriptions:
// a flush round trip brings them all in, and a barrier behind them in
// every subscription's queue marks when they have been handled.
func (s *Service) awaitReceived() error {
	if err := s.nc.FlushTimeout(flushTimeout); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil
		}
		return fmt.Errorf("flush unsubscriptions: %w", err)
	}
	done := make(chan struct{})
	if err := s.nc.Barrier(func() { close(done) }); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil
		}
		return fmt.Errorf("barrier: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(flushTimeout):
		return fmt.Errorf("requests still unhandled after %v", flushTimeout)
	}
}
