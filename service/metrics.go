package service

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// The service's metrics, all prefixed evlog_:
//
//	requests_total{endpoint,code}            requests answered, by endpoint and result code (200 for success)
//	request_duration_seconds{endpoint}       time from receipt to reply; long-poll reads that waited are not observed
//	appended_records_total                   records acknowledged
//	duplicate_appends_total                  appends answered as duplicates of an acknowledged id (conflicts are requests_total{code="409"})
//	dedup_ids                                append ids the log remembers for deduplication
//	appended_bytes_total                     msgpack bytes of the acknowledged append requests
//	fsync_duration_seconds                   the syncs the log reports for its commits (SyncAlways only); its count is the fsyncs
//	group_commit_appends                     append requests acknowledged per group commit
//	committed_offset                         offset after the last acknowledged record
//	pending_appends, parked_reads            appends handed to the log and not yet answered, and long-poll reads waiting
//	failed                                   1 once the service refuses appends after a failed sync
//	log_segments, log_bytes                  segments and bytes of the log's stores
//	log_lowest_offset, log_next_offset       the log's first offset and the offset its next record gets
//	recovered_segments_total                 segments found damaged or not cleanly closed at open
//	recovered_index_rebuilds_total           indexes rebuilt from their stores at open
//	recovered_truncated_bytes_total          torn tail bytes cut from the active segment at open
//	recovered_damaged_bytes_total            damaged bytes found and left in sealed segments at open
//	events_total{type}, retention_removed_*  the events published (events.go)
//	snapshots_running                        snapshots streaming now
//	snapshots_abandoned_total                snapshots given up because the requester stopped acknowledging or gave up
//	snapshot_bytes_total                     bytes of snapshot streams sent
//
// Counters are plain atomics read at scrape time, so that the handlers'
// cost is one atomic add each; the latency histograms are Prometheus's,
// which are lock-free too.
const metricsNamespace = "evlog"

// endpoint numbers the service's endpoints for the metrics' arrays.
type endpoint int

const (
	epAppend endpoint = iota
	epRead
	epTruncate
	epInfo
	epSnapshot
	numEndpoints
)

var endpointNames = [numEndpoints]string{"append", "read", "truncate", "info", "snapshot"}

// resultCodes are the codes a request can end with; codeOK stands for a
// successful reply.
var resultCodes = [...]int{
	codeOK,
	messages.CodeBadRequest,
	messages.CodeOffsetOutOfRange,
	messages.CodeConflict,
	messages.CodeTooLarge,
	messages.CodeInternal,
	messages.CodeUnavailable,
}

const codeOK = 200

// codeIndex maps a result code to its place in resultCodes; 0 means
// success, like codeOK. An unknown code, which the service never sends,
// counts as an internal error.
func codeIndex(code int) int {
	if code == 0 {
		return 0
	}
	for i, c := range resultCodes {
		if c == code {
			return i
		}
	}
	return codeIndex(messages.CodeInternal)
}

// latencyBuckets span 50 µs to 10 s: an append synced on an SSD takes
// about a millisecond, a read from the page cache much less.
var latencyBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// metrics counts what the service does. It is a prometheus.Collector;
// the service registers it with Config.Registerer.
type metrics struct {
	s *Service

	requests        [numEndpoints][len(resultCodes)]atomic.Uint64
	latency         [numEndpoints]prometheus.Observer
	latencyVec      *prometheus.HistogramVec
	appendedRecords atomic.Uint64
	appendedBytes   atomic.Uint64
	duplicates      atomic.Uint64
	groupCommits    atomic.Uint64
	fsyncs          atomic.Uint64
	fsyncNanos      atomic.Uint64
	fsyncSeconds    prometheus.Histogram
	batchAppends    prometheus.Histogram
	// The snapshots: those given up, and the bytes sent.
	snapshotsAbandoned atomic.Uint64
	snapshotBytes      atomic.Uint64

	// recovered summarises Log.Recovered, taken at New.
	recovered struct{ segments, rebuilds, truncated, damaged uint64 }

	requestsDesc, appendedRecordsDesc, appendedBytesDesc       *prometheus.Desc
	committedDesc, pendingDesc, parkedDesc, failedDesc         *prometheus.Desc
	segmentsDesc, bytesDesc, lowestDesc, nextDesc              *prometheus.Desc
	duplicatesDesc, dedupIDsDesc                               *prometheus.Desc
	recSegmentsDesc, recRebuildsDesc, recTruncDesc, recDamDesc *prometheus.Desc
	snapRunningDesc, snapAbandonedDesc, snapBytesDesc          *prometheus.Desc
}

func newMetrics(s *Service, recovered []segment.Recovery) *metrics {
	m := &metrics{s: s}
	for _, r := range recovered {
		m.recovered.segments++
		if r.IndexRebuilt {
			m.recovered.rebuilds++
		}
		m.recovered.truncated += r.TruncatedBytes
		m.recovered.damaged += r.DamagedBytes
	}
	m.latencyVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace,
		Name:      "request_duration_seconds",
		Help:      "Time from receiving a request to sending its reply. Long-poll reads that waited are not observed.",
		Buckets:   latencyBuckets,
	}, []string{"endpoint"})
	for e := range numEndpoints {
		m.latency[e] = m.latencyVec.WithLabelValues(endpointNames[e])
	}
	m.fsyncSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metricsNamespace,
		Name:      "fsync_duration_seconds",
		Help:      "Duration of the committer's syncs of the log (sync mode always); the count is the number of fsyncs.",
		Buckets:   latencyBuckets,
	})
	m.batchAppends = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metricsNamespace,
		Name:      "group_commit_appends",
		Help:      "Append requests acknowledged per group commit.",
		Buckets:   prometheus.ExponentialBuckets(1, 2, 13), // 1 to 4096
	})
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", name), help, labels, nil)
	}
	m.requestsDesc = desc("requests_total", "Requests answered, by endpoint and result code (200 for success).", "endpoint", "code")
	m.appendedRecordsDesc = desc("appended_records_total", "Records appended and acknowledged.")
	m.appendedBytesDesc = desc("appended_bytes_total", "Bytes of the append requests acknowledged, as received.")
	m.duplicatesDesc = desc("duplicate_appends_total", "Appends answered as duplicates of an acknowledged append id: nothing appended.")
	m.dedupIDsDesc = desc("dedup_ids", "Append ids the log remembers for deduplication.")
	m.committedDesc = desc("committed_offset", "Offset after the last acknowledged record: the next offset readers see.")
	m.pendingDesc = desc("pending_appends", "Append requests handed to the log and not yet answered.")
	m.parkedDesc = desc("parked_reads", "Long-poll reads waiting for records.")
	m.failedDesc = desc("failed", "1 once the service refuses appends after a failed sync of the log.")
	m.segmentsDesc = desc("log_segments", "Segments of the log, the active one included.")
	m.bytesDesc = desc("log_bytes", "Bytes of the log's segment stores.")
	m.lowestDesc = desc("log_lowest_offset", "Offset of the log's oldest record.")
	m.nextDesc = desc("log_next_offset", "Offset the log's next record gets, acknowledged or not.")
	m.recSegmentsDesc = desc("recovered_segments_total", "Segments found damaged or not cleanly closed when the log was opened.")
	m.recRebuildsDesc = desc("recovered_index_rebuilds_total", "Segment indexes rebuilt from their stores when the log was opened.")
	m.recTruncDesc = desc("recovered_truncated_bytes_total", "Bytes of torn tail cut from the active segment when the log was opened.")
	m.snapRunningDesc = desc("snapshots_running", "Snapshots streaming now.")
	m.snapAbandonedDesc = desc("snapshots_abandoned_total", "Snapshots given up because the requester stopped acknowledging chunks or gave up.")
	m.snapBytesDesc = desc("snapshot_bytes_total", "Bytes of snapshot streams sent.")
	m.recDamDesc = desc("recovered_damaged_bytes_total", "Bytes of damaged tail found, and left, in sealed segments when the log was opened.")
	return m
}

// registerMetrics registers the metrics with Config.Registerer, if any.
func (s *Service) registerMetrics() error {
	if s.cfg.Registerer == nil {
		return nil
	}
	if err := s.cfg.Registerer.Register(s.metrics); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	if err := s.cfg.Registerer.Register(s.events); err != nil {
		s.cfg.Registerer.Unregister(s.metrics)
		return fmt.Errorf("register event metrics: %w", err)
	}
	return nil
}

// unregisterMetrics undoes registerMetrics, so that a later service can
// register with the same Registerer.
func (s *Service) unregisterMetrics() {
	if s.cfg.Registerer != nil {
		s.cfg.Registerer.Unregister(s.metrics)
		s.cfg.Registerer.Unregister(s.events)
	}
}

// answered counts a request answered with code. A zero start observes no
// latency.
func (m *metrics) answered(e endpoint, code int, start time.Time) {
	m.requests[e][codeIndex(code)].Add(1)
	if !start.IsZero() {
		m.latency[e].Observe(time.Since(start).Seconds())
	}
}

// committed counts a group of appends acknowledged together.
func (m *metrics) committed(appends []*Append) {
	if len(appends) == 0 {
		// A range this process did not append: nothing was answered.
		return
	}
	var records, bytes uint64
	for _, a := range appends {
		m.answered(epAppend, codeOK, pendingOf(a).start)
		if a.Duplicate {
			m.duplicates.Add(1)
			continue
		}
		records += a.Last - a.First + 1
		bytes += uint64(pendingOf(a).bytes)
	}
	m.appendedRecords.Add(records)
	m.appendedBytes.Add(bytes)
	m.groupCommits.Add(1)
	m.batchAppends.Observe(float64(len(appends)))
}

// failed counts a group of appends answered with code.
func (m *metrics) failed(appends []*Append, code int) {
	for _, a := range appends {
		m.answered(epAppend, code, pendingOf(a).start)
	}
}

// synced counts the sync a commit reports, if any.
func (m *metrics) synced(c Commit) {
	if !c.Synced {
		return
	}
	m.fsyncs.Add(1)
	m.fsyncNanos.Add(uint64(c.SyncDuration))
	m.fsyncSeconds.Observe(c.SyncDuration.Seconds())
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.latencyVec.Describe(ch)
	m.fsyncSeconds.Describe(ch)
	m.batchAppends.Describe(ch)
	for _, d := range []*prometheus.Desc{
		m.requestsDesc, m.appendedRecordsDesc, m.appendedBytesDesc,
		m.committedDesc, m.pendingDesc, m.parkedDesc, m.failedDesc,
		m.segmentsDesc, m.bytesDesc, m.lowestDesc, m.nextDesc,
		m.duplicatesDesc, m.dedupIDsDesc,
		m.recSegmentsDesc, m.recRebuildsDesc, m.recTruncDesc, m.recDamDesc,
		m.snapRunningDesc, m.snapAbandonedDesc, m.snapBytesDesc,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. The log's gauges come from
// Log.Stats at scrape time.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.latencyVec.Collect(ch)
	m.fsyncSeconds.Collect(ch)
	m.batchAppends.Collect(ch)
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	for e := range numEndpoints {
		for i, code := range resultCodes {
			counter(m.requestsDesc, m.requests[e][i].Load(), endpointNames[e], strconv.Itoa(code))
		}
	}
	counter(m.appendedRecordsDesc, m.appendedRecords.Load())
	counter(m.appendedBytesDesc, m.appendedBytes.Load())
	counter(m.duplicatesDesc, m.duplicates.Load())
	counter(m.recSegmentsDesc, m.recovered.segments)
	counter(m.recRebuildsDesc, m.recovered.rebuilds)
	counter(m.recTruncDesc, m.recovered.truncated)
	counter(m.recDamDesc, m.recovered.damaged)
	counter(m.snapAbandonedDesc, m.snapshotsAbandoned.Load())
	counter(m.snapBytesDesc, m.snapshotBytes.Load())
	gauge(m.snapRunningDesc, float64(m.s.snapshots.running()))

	st := m.s.Stats()
	gauge(m.committedDesc, float64(st.CommittedOffset))
	gauge(m.pendingDesc, float64(st.PendingAppends))
	gauge(m.parkedDesc, float64(st.ParkedReads))
	failed := 0.0
	if m.s.Err() != nil {
		failed = 1
	}
	gauge(m.failedDesc, failed)
	ls := m.s.log.Stats()
	gauge(m.segmentsDesc, float64(ls.Segments))
	gauge(m.bytesDesc, float64(ls.Bytes))
	gauge(m.lowestDesc, float64(ls.LowestOffset))
	gauge(m.nextDesc, float64(ls.NextOffset))
	gauge(m.dedupIDsDesc, float64(ls.DedupIDs))
}

// EndpointStats is the data of an endpoint in micro's $SRV.STATS replies:
// the service's state and the endpoint's counters, the same numbers the
// Prometheus metrics show.
type EndpointStats struct {
	Stats
	// Requests counts the endpoint's answered requests by result code,
	// "200" for success. Unlike micro's num_requests and num_errors it
	// includes appends and long-poll reads answered after their handler
	// returned.
	Requests map[string]uint64 `json:"requests"`
	// Appends is set on the append endpoint only.
	Appends *AppendStats `json:"appends,omitempty"`
}

// AppendStats are the append endpoint's counters.
type AppendStats struct {
	// Records and Bytes are the records and request bytes acknowledged.
	Records uint64 `json:"records"`
	Bytes   uint64 `json:"bytes"`
	// Duplicates counts the appends answered as duplicates of an
	// acknowledged id.
	Duplicates uint64 `json:"duplicates"`
	// GroupCommits counts the groups of appends acknowledged together.
	GroupCommits uint64 `json:"group_commits"`
	// Fsyncs counts the syncs the log made for its commits; FsyncSeconds
	// is their total duration.
	Fsyncs       uint64  `json:"fsyncs"`
	FsyncSeconds float64 `json:"fsync_seconds"`
}

// endpointStats is the micro StatsHandler.
func (m *metrics) endpointStats(e *micro.Endpoint) any {
	ep := numEndpoints
	for i, name := range endpointNames {
		if e != nil && e.Name == name {
			ep = endpoint(i)
		}
	}
	if ep == numEndpoints {
		return m.s.Stats()
	}
	st := EndpointStats{Stats: m.s.Stats(), Requests: map[string]uint64{}}
	for i, code := range resultCodes {
		st.Requests[strconv.Itoa(code)] = m.requests[ep][i].Load()
	}
	if ep == epAppend {
		st.Appends = &AppendStats{
			Records:      m.appendedRecords.Load(),
			Bytes:        m.appendedBytes.Load(),
			Duplicates:   m.duplicates.Load(),
			GroupCommits: m.groupCommits.Load(),
			Fsyncs:       m.fsyncs.Load(),
			FsyncSeconds: time.Duration(m.fsyncNanos.Load()).Seconds(),
		}
	}
	return st
}

// observedRequest counts and times the reply a handler sends, so that
// handlers need not. It counts before the reply goes out: a client that
// has its answer and then reads the metrics finds it counted.
type observedRequest struct {
	micro.Request
	m     *metrics
	e     endpoint
	start time.Time
}

func (r *observedRequest) Respond(data []byte, opts ...micro.RespondOpt) error {
	r.m.answered(r.e, codeOK, r.start)
	return r.Request.Respond(data, opts...)
}

func (r *observedRequest) RespondJSON(v any, opts ...micro.RespondOpt) error {
	r.m.answered(r.e, codeOK, r.start)
	return r.Request.RespondJSON(v, opts...)
}

func (r *observedRequest) Error(code, description string, data []byte, opts ...micro.RespondOpt) error {
	n, err := strconv.Atoi(code)
	if err != nil {
		n = messages.CodeInternal
	}
	r.m.answered(r.e, n, r.start)
	return r.Request.Error(code, description, data, opts...)
}

// observedRequests are reused: a handler must not keep its request once
// it returns (see replyError), so neither does anyone else.
var observedRequests = sync.Pool{New: func() any { return new(observedRequest) }}

// observe wraps a handler to count and time the requests it answers
// itself. Requests it leaves to the log or the poller are counted when
// onCommit or answerParked answers them.
func (s *Service) observe(e endpoint, h micro.HandlerFunc) micro.HandlerFunc {
	return func(req micro.Request) {
		r := observedRequests.Get().(*observedRequest)
		*r = observedRequest{Request: req, m: s.metrics, e: e, start: time.Now()}
		h(r)
		*r = observedRequest{}
		observedRequests.Put(r)
	}
}

// requestStart returns when the request was received, or now for a
// request that did not come through observe.
func requestStart(req micro.Request) time.Time {
	if r, ok := req.(*observedRequest); ok {
		return r.start
	}
	return time.Now()
}
