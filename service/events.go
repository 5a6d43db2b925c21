package service

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// The events are published on Subjects().Events, one messages.Event each,
// always msgpack. Each is also logged and counted:
//
//	events_total{type}                      events published, by type (retention, truncate, recovery, snapshot)
//	retention_removed_bytes_total           store bytes the retention policy deleted
//	retention_removed_segments_total        segments the retention policy deleted
//
// Events are for monitoring: one that cannot be published (no
// connection) is logged, not retried.

// eventTypes are the types counted in events_total, in its label order.
var eventTypes = [...]string{messages.EventRetention, messages.EventTruncate, messages.EventRecovery, messages.EventSnapshot}

// eventMetrics counts the events. It is a prometheus.Collector registered
// beside the service's metrics.
type eventMetrics struct {
	byType          [len(eventTypes)]atomic.Uint64
	retentionBytes  atomic.Uint64
	retentionSegs   atomic.Uint64
	eventsDesc      *prometheus.Desc
	retBytesDesc    *prometheus.Desc
	retSegmentsDesc *prometheus.Desc
}

func newEventMetrics() *eventMetrics {
	return &eventMetrics{
		eventsDesc: prometheus.NewDesc(metricsNamespace+"_events_total",
			"Events published on the events subject, by type.", []string{"type"}, nil),
		retBytesDesc: prometheus.NewDesc(metricsNamespace+"_retention_removed_bytes_total",
			"Store bytes of the segments the retention policy deleted.", nil, nil),
		retSegmentsDesc: prometheus.NewDesc(metricsNamespace+"_retention_removed_segments_total",
			"Segments the retention policy deleted.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *eventMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.eventsDesc
	ch <- m.retBytesDesc
	ch <- m.retSegmentsDesc
}

// Collect implements prometheus.Collector.
func (m *eventMetrics) Collect(ch chan<- prometheus.Metric) {
	for i, t := range eventTypes {
		ch <- prometheus.MustNewConstMetric(m.eventsDesc, prometheus.CounterValue, float64(m.byType[i].Load()), t)
	}
	ch <- prometheus.MustNewConstMetric(m.retBytesDesc, prometheus.CounterValue, float64(m.retentionBytes.Load()))
	ch <- prometheus.MustNewConstMetric(m.retSegmentsDesc, prometheus.CounterValue, float64(m.retentionSegs.Load()))
}

// count counts ev; a type it does not know is not counted.
func (m *eventMetrics) count(ev messages.Event) {
	for i, t := range eventTypes {
		if t == ev.Type {
			m.byType[i].Add(1)
		}
	}
}

// PublishEvent publishes ev on the events subject, logs it and counts it
// in events_total. A zero Time is set to now. It is the hook for every
// event source: Removed and the recovery report at New call it, and so
// should a snapshot endpoint, with messages.EventSnapshot, once a
// snapshot is taken. It may be called from any goroutine, also after
// Stop (the event is then most likely lost with the connection). An event
// that cannot be published is logged as a warning and not retried.
func (s *Service) PublishEvent(ev messages.Event) {
	if ev.Time == 0 {
		ev.Time = time.Now().UnixNano()
	}
	s.events.count(ev)
	s.logger.Info("event", "type", ev.Type, "first_offset", ev.FirstOffset, "last_offset", ev.LastOffset,
		"bytes", ev.Bytes, "reason", ev.Reason)
	body, err := messages.Marshal(ev)
	if err == nil {
		err = s.nc.Publish(s.subjects.Events, body)
	}
	if err != nil {
		s.logger.Warn("event not published", "subject", s.subjects.Events, "type", ev.Type, "error", err)
	}
}

// Removed publishes the event of a removal from the log: a retention
// event when the retention policy made it (r.Reason is set), a truncate
// event otherwise. An empty removal publishes nothing.
func (s *Service) Removed(r segment.Removal) {
	if r.Empty() {
		return
	}
	ev := messages.Event{Type: messages.EventTruncate, FirstOffset: r.From, LastOffset: r.To - 1, Bytes: r.Bytes, Reason: r.Reason}
	if r.Reason != "" {
		ev.Type = messages.EventRetention
		s.events.retentionBytes.Add(r.Bytes)
		s.events.retentionSegs.Add(uint64(r.Segments))
	} else {
		ev.Reason = fmt.Sprintf("truncate to %d", r.To)
	}
	s.PublishEvent(ev)
}

// publishRecoveries publishes one recovery event per segment that opening
// the log repaired.
func (s *Service) publishRecoveries(recs []segment.Recovery) {
	for _, r := range recs {
		// A segment left with no record still names its base.
		last := r.BaseOffset + max(r.Records, 1) - 1
		s.PublishEvent(messages.Event{
			Type: messages.EventRecovery, FirstOffset: r.BaseOffset, LastOffset: last,
			Bytes: r.TruncatedBytes + r.DamagedBytes, Reason: recoveryReason(r),
		})
	}
}

// recoveryReason says what recovery did to a segment, for example
// "00000000000000000000.store: index rebuilt, torn tail of 17 bytes cut".
func recoveryReason(r segment.Recovery) string {
	var did []string
	if r.IndexRebuilt {
		did = append(did, "index rebuilt")
	}
	if r.TruncatedBytes > 0 {
		did = append(did, fmt.Sprintf("torn tail of %d bytes cut", r.TruncatedBytes))
	}
	if r.DamagedBytes > 0 {
		did = append(did, fmt.Sprintf("damaged tail of %d bytes left in place", r.DamagedBytes))
	}
	if len(did) == 0 {
		did = append(did, "checked")
	}
	name := r.Store
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return name + ": " + strings.Join(did, ", ")
}
