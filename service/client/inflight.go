package client

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// The subject of a permissions violation, as nats-server words it:
// `Permissions Violation for Publish to "evlog.append"` or
// `Permissions Violation for Subscription to "_INBOX.abc.*"`.
var (
	deniedPublishRe   = regexp.MustCompile(`(?i)publish to "([^"]+)"`)
	deniedSubscribeRe = regexp.MustCompile(`(?i)subscription to "([^"]+)"`)
)

// inflight tracks a client's requests awaiting replies, so that a
// permissions violation, which nats.go reports only to the connection's
// asynchronous error handler, ends the requests it concerns at once
// instead of letting them wait out their timeout for a reply that the
// server will never route.
type inflight struct {
	inboxPrefix string

	mu    sync.Mutex
	calls map[*pendingCall]struct{}
}

// pendingCall is one request in flight.
type pendingCall struct {
	subject string
	cancel  context.CancelCauseFunc
}

func newInflight(inboxPrefix string) *inflight {
	if inboxPrefix == "" {
		inboxPrefix = nats.InboxPrefix
	}
	return &inflight{inboxPrefix: strings.TrimSuffix(inboxPrefix, "."), calls: map[*pendingCall]struct{}{}}
}

// watch installs an asynchronous error handler on nc that ends the
// requests a permissions violation concerns and then calls the handler
// nc had before, so that the caller's own handler still sees every error.
func (f *inflight) watch(nc *nats.Conn) {
	prev := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, sub *nats.Subscription, err error) {
		f.fail(err)
		if prev != nil {
			prev(c, sub, err)
		}
	})
}

// add registers a request to subject; cancel ends it with a cause. The
// returned function unregisters it.
func (f *inflight) add(subject string, cancel context.CancelCauseFunc) func() {
	pc := &pendingCall{subject: subject, cancel: cancel}
	f.mu.Lock()
	f.calls[pc] = struct{}{}
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		delete(f.calls, pc)
		f.mu.Unlock()
	}
}

// fail ends the requests err concerns: those published to a subject the
// client may not publish to, and all of them when the client may not
// subscribe to its reply inbox, where every reply would arrive.
func (f *inflight) fail(err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	msg := err.Error()
	var subject string
	all := false
	if m := deniedPublishRe.FindStringSubmatch(msg); m != nil {
		subject = m[1]
	} else if m := deniedSubscribeRe.FindStringSubmatch(msg); m != nil && strings.HasPrefix(m[1], f.inboxPrefix+".") {
		all = true
	} else {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for pc := range f.calls {
		if all || pc.subject == subject {
			pc.cancel(err)
		}
	}
}
