package node

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evlog/evlog/segment"
)

// damageReporter makes the damaged records that reads find visible: a
// warning for each, naming its segment and offset, and the counter
// evlog_damaged_records_total. The segment log hands it each damaged
// record once (segment.Config.OnDamage), however often it is read, so
// that neither floods. It runs on the goroutine of the read that found
// the damage and must not block, which logging and counting do not.
type damageReporter struct {
	logger *slog.Logger
	count  prometheus.Counter
}

func newDamageReporter(logger *slog.Logger) *damageReporter {
	return &damageReporter{
		logger: logger,
		count: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "evlog",
			Name:      "damaged_records_total",
			Help:      "Damaged records found by reads since the start, each counted once: run evlog check.",
		}),
	}
}

// report is the log's segment.Config.OnDamage.
func (d *damageReporter) report(e *segment.DamageError) {
	d.count.Inc()
	d.logger.Warn("damaged record found by a read; readers skip it only by reading past it",
		"segment", e.Segment, "offset", e.Offset, "error", e.Err)
}
