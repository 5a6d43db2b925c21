package node

import (
	"time"

	"github.com/evlog/evlog/segment"
)

// The retention policy (Options.RetentionBytes, Options.RetentionAge) is
// applied by one actor of the run group: when the log rolls to a new
// segment, since only then can a sealed segment tip the total over the
// byte limit, and on a timer, since segments age without any append.

// minRetentionAge is the smallest --retention-age: the policy is checked
// about once a second at most, so a shorter age would not be kept anyway.
const minRetentionAge = time.Second

// retentionInterval is how often the policy is checked without a roll:
// a tenth of the age limit, so that a segment outlives it by at most about
// 10%, between once a second and once a minute. Without an age limit
// only rolls matter, and the timer is a backstop once a minute.
func retentionInterval(maxAge time.Duration) time.Duration {
	if maxAge <= 0 {
		return time.Minute
	}
	return min(max(maxAge/10, time.Second), time.Minute)
}

// retentionPolicy is the policy of the options.
func (o Options) retentionPolicy() segment.RetentionPolicy {
	return segment.RetentionPolicy{MaxBytes: o.RetentionBytes, MaxAge: o.RetentionAge}
}

// onRoll is the log's Config.OnRoll: it wakes the retention actor
// without blocking the append that rolled. One pending wake-up is enough.
func (n *node) onRoll() {
	select {
	case n.rolled <- struct{}{}:
	default:
	}
}

// onRemove is the log's Config.OnRemove: every removal, by a truncate
// request or the retention policy, becomes an event once the service
// publishes them.
func (n *node) onRemove(r segment.Removal) {
	// Every node of a cluster removes the same records: the leader
	// publishes the event for all of them.
	if n.rlog != nil && !n.rlog.Leader() {
		n.logger.Debug("records removed", "from", r.From, "to", r.To, "bytes", r.Bytes)
		return
	}
	if svc := n.h.svc.Load(); svc != nil {
		svc.Removed(r)
		return
	}
	n.logger.Info("records removed before the service started", "from", r.From, "to", r.To, "bytes", r.Bytes, "reason", r.Reason)
}

// applyRetention applies p once, to the local log or, on a node of a
// cluster, through the replicated log.
func (n *node) applyRetention(p segment.RetentionPolicy) error {
	if n.rlog != nil {
		return n.retainReplicated(p)
	}
	_, err := n.log.ApplyRetention(p, time.Now())
	return err
}

// retain is the run group's retention actor. It applies the policy at
// once, then after each roll and every retentionInterval, until
// interrupted. A failed pass is logged and retried at the next one: the
// log reports a failure that ends the node on its own, through the
// service.
func (n *node) retain() (execute func() error, interrupt func(error)) {
	p := n.o.retentionPolicy()
	stop := make(chan struct{})
	execute = func() error {
		t := time.NewTicker(retentionInterval(p.MaxAge))
		defer t.Stop()
		for {
			if err := n.applyRetention(p); err != nil {
				n.logger.Warn("retention failed", "error", err)
			}
			select {
			case <-stop:
				return nil
			case <-t.C:
			case <-n.rolled:
			}
		}
	}
	return execute, func(error) { close(stop) }
}
