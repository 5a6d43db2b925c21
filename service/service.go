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
	"github.com/evlog/evlog/segment"
)

// Service serves one segment.Log on one subject prefix. Create it with New
// and stop it with Stop; it owns its goroutines but neither the log nor the
// connection.
type Service struct {
	cfg      Config
	nc       *nats.Conn
	log      *segment.Log
	subjects messages.Subjects
	logger   *slog.Logger
	// maxRecordBytes is cfg.MaxRecordBytes lowered to what a read reply
	// on this connection can carry.
	maxRecordBytes int
	micro          micro.Service
	metrics        *metrics

	// committed is the offset after the last acknowledged record. Readers
	// see nothing at or beyond it. Only the committer advances it.
	committed atomic.Uint64

	// mu guards stopping. Handlers join inflight under mu while stopping
	// is false, so that Stop, once it has set stopping, can wait for the
	// last of them before closing queue.
	mu       sync.Mutex
	stopping bool
	inflight sync.WaitGroup

	// appendMu serialises writing to the log with queueing for the
	// committer, so that queue holds requests in offset order and a
	// request is only written when its place in queue is certain.
	appendMu sync.Mutex
	queue    chan pendingAppend
	// uncommitted counts the appends queued and not yet committed. When
	// it is zero, an append handler holding appendMu may commit its own
	// request: nothing can be committed out of order.
	uncommitted atomic.Int64
	// inlineBatch and inlineBody serve those commits, under appendMu.
	inlineBatch [1]pendingAppend
	inlineBody  []byte

	// parkMu guards parked. Lock order: appendMu is never held with it.
	parkMu sync.Mutex
	parked []*parkedRead
	// wake tells the poller that committed advanced or a read parked.
	wake     chan struct{}
	stopPoll chan struct{}

	failOnce sync.Once
	failed   chan struct{}
	failErr  error // set before failed is closed

	stopOnce sync.Once
	stopErr  error
	// committerDone and pollerDone are closed as those goroutines return.
	committerDone chan struct{}
	pollerDone    chan struct{}
}

// New starts serving log on nc under cfg.Prefix. It refuses to start, with
// ErrPrefixInUse, when something already answers the prefix's info
// subject. Under SyncAlways it first syncs the log, so that records a
// crashed predecessor wrote but never synced are durable before anyone can
// read them. The caller keeps ownership of nc and log and must call Stop
// before closing either.
func New(nc *nats.Conn, log *segment.Log, cfg Config) (*Service, error) {
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
		queue:          make(chan pendingAppend, cfg.MaxPendingAppends),
		wake:           make(chan struct{}, 1),
		stopPoll:       make(chan struct{}),
		failed:         make(chan struct{}),
		committerDone:  make(chan struct{}),
		pollerDone:     make(chan struct{}),
	}
	if limit := int(nc.MaxPayload()) - replyOverhead; s.maxRecordBytes > limit {
		s.logger.Info("record size limited by the NATS max payload", "max_record_bytes", limit, "max_payload", nc.MaxPayload())
		s.maxRecordBytes = limit
	}
	s.metrics = newMetrics(s, log.Recovered())
	if err := s.probe(); err != nil {
		return nil, err
	}
	if cfg.SyncMode == segment.SyncAlways {
		if err := log.Sync(); err != nil {
			return nil, fmt.Errorf("sync log: %w", err)
		}
	}
	s.committed.Store(log.NextOffset())
	if err := s.registerMetrics(); err != nil {
		return nil, err
	}

	go s.commit()
	go s.poll()

	if err := s.register(); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	s.logger.Info("serving evlog",
		"append", s.subjects.Append, "read", s.subjects.Read,
		"truncate", s.subjects.Truncate, "info", s.subjects.Info,
		"committed", s.subjects.Committed, "next_offset", s.committed.Load(),
		"sync", cfg.SyncMode.String())
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

// register adds the micro service and its endpoints. The queue group is
// disabled so that a second instance on the same prefix would receive
// every request too, rather than silently taking half of the appends into
// another log.
func (s *Service) register() error {
	ms, err := micro.AddService(s.nc, micro.Config{
		Name:               s.cfg.Name,
		Version:            s.cfg.Version,
		Description:        "durable segmented event log",
		Metadata:           map[string]string{"prefix": s.cfg.Prefix},
		QueueGroupDisabled: true,
		StatsHandler:       s.metrics.endpointStats,
		ErrorHandler: func(_ micro.Service, e *micro.NATSError) {
			s.logger.Warn("nats subscription error", "subject", e.Subject, "error", e.Description)
		},
	})
	if err != nil {
		return fmt.Errorf("add micro service: %w", err)
	}
	s.micro = ms
	g := ms.AddGroup(s.cfg.Prefix, micro.WithGroupQueueGroupDisabled())
	for _, e := range []struct {
		ep endpoint
		h  micro.HandlerFunc
	}{
		{epAppend, s.handleAppend},
		{epRead, s.handleRead},
		{epTruncate, s.handleTruncate},
		{epInfo, s.handleInfo},
	} {
		name := endpointNames[e.ep]
		if err := g.AddEndpoint(name, s.observe(e.ep, e.h), micro.WithEndpointQueueGroupDisabled()); err != nil {
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

// flushTimeout bounds the round trip that confirms the subscriptions.
const flushTimeout = 10 * time.Second

// Subjects returns the subjects the service answers and publishes on.
func (s *Service) Subjects() messages.Subjects { return s.subjects }

// CommittedOffset returns the offset after the last acknowledged record,
// the offset readers see as the next one.
func (s *Service) CommittedOffset() uint64 { return s.committed.Load() }

// Stats is a snapshot of the service's state, also published, within
// EndpointStats, as the data of the endpoints in micro's $SRV.STATS
// replies.
type Stats struct {
	// CommittedOffset is the offset after the last acknowledged record.
	CommittedOffset uint64 `json:"committed_offset"`
	// PendingAppends is how many append requests wait for the committer.
	PendingAppends int `json:"pending_appends"`
	// ParkedReads is how many long-poll reads wait for records.
	ParkedReads int `json:"parked_reads"`
}

// Stats returns a snapshot of the service's state.
func (s *Service) Stats() Stats {
	s.parkMu.Lock()
	parked := len(s.parked)
	s.parkMu.Unlock()
	return Stats{CommittedOffset: s.committed.Load(), PendingAppends: len(s.queue), ParkedReads: parked}
}

// Failed is closed when the service can no longer append, after the log
// failed to sync; Err then says why. The owner should stop the service and
// close the log.
func (s *Service) Failed() <-chan struct{} { return s.failed }

// Err returns the failure that closed Failed, or nil.
func (s *Service) Err() error {
	select {
	case <-s.failed:
		return s.failErr
	default:
		return nil
	}
}

func (s *Service) fail(err error) {
	s.failOnce.Do(func() {
		s.failErr = err
		close(s.failed)
		s.logger.Error("service refuses appends from now on", "error", err)
	})
}

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

// Stop stops serving: requests that still arrive get 503, the committer
// syncs and acknowledges the appends it holds, parked reads are answered
// with what has committed. It returns once every request the connection
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
	close(s.queue)
	<-s.committerDone
	// Only now, so that parked reads get the last acknowledged records.
	close(s.stopPoll)
	<-s.pollerDone
	if !s.nc.IsConnected() {
		// Replies still buffered go out if the connection comes back
		// before its owner closes it; waiting here cannot help them.
		s.logger.Warn("stopping while disconnected from NATS: the last replies may not be delivered")
	} else if err := s.nc.FlushTimeout(flushTimeout); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		errs = append(errs, fmt.Errorf("flush replies: %w", err))
	}
	s.unregisterMetrics()
	s.logger.Info("service stopped", "next_offset", s.committed.Load(), "took", time.Since(start))
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
