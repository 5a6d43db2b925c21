package service

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
)

// announcer publishes the Committed notifications. A single node
// announces every committed range as it is delivered. In a cluster only
// the leader announces, and it announces every offset once, in order:
// each node keeps next, the offset after the last range announced by any
// node (it listens to the subject), so that a new leader continues from
// there, announcing first what its predecessor applied but did not get
// to announce. A range may thus be announced twice around a leader
// change (an announcement still in flight when the new leader catches
// up), but no offset is left out.
//
// What was committed before the node started counts as announced: a
// cluster whose every node restarted does not announce its history again.
type announcer struct {
	nc      *nats.Conn
	subject string
	logger  *slog.Logger
	ld      Leadership // nil on a single node

	// mu guards next and body, and orders the publications.
	mu   sync.Mutex
	next uint64
	body []byte
	sub  *nats.Subscription
}

// newAnnouncer starts announcing on subject from next on. In a cluster
// (ld set) it subscribes to the subject to follow the other nodes'
// announcements.
func newAnnouncer(nc *nats.Conn, subject string, ld Leadership, next uint64, logger *slog.Logger) (*announcer, error) {
	a := &announcer{nc: nc, subject: subject, logger: logger, ld: ld, next: next}
	if ld == nil {
		return a, nil
	}
	sub, err := nc.Subscribe(subject, a.observe)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	a.sub = sub
	return a, nil
}

// commit announces the committed range first to last, as the node's role
// allows. Commits come one at a time.
func (a *announcer) commit(first, last uint64) {
	if a.ld == nil {
		a.body = appendOffsets(a.body[:0], "first_offset", first, "last_offset", last)
		a.publish(first, last)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.ld.Leader() || a.next > last {
		return
	}
	// From next, not first: a range the previous leader left out is
	// announced with this one.
	from := a.next
	a.next = last + 1
	a.body = appendOffsets(a.body[:0], "first_offset", from, "last_offset", last)
	a.publish(from, last)
}

// catchUp announces, on a node that just became the leader, the range
// from next to committed that no node has announced.
func (a *announcer) catchUp(committed uint64) {
	if a.ld == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next >= committed {
		return
	}
	from := a.next
	a.next = committed
	a.body = appendOffsets(a.body[:0], "first_offset", from, "last_offset", committed-1)
	a.publish(from, committed-1)
}

// observe follows an announcement, by any node.
func (a *announcer) observe(msg *nats.Msg) {
	var c messages.Committed
	if err := messages.Unmarshal(msg.Data, &c); err != nil {
		a.logger.Debug("ignoring a committed notification that does not decode", "error", err)
		return
	}
	a.mu.Lock()
	a.next = max(a.next, c.LastOffset+1)
	a.mu.Unlock()
}

// publish sends a.body, the notification of first to last.
func (a *announcer) publish(first, last uint64) {
	if err := a.nc.Publish(a.subject, a.body); err != nil {
		a.logger.Warn("publish commit notification", "first_offset", first, "last_offset", last, "error", err)
	}
}

// close stops following the other nodes' announcements.
func (a *announcer) close() error {
	if a.sub == nil {
		return nil
	}
	// A closed connection has nothing left to unsubscribe from.
	err := a.sub.Unsubscribe()
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		return fmt.Errorf("unsubscribe from %s: %w", a.subject, err)
	}
	return nil
}
