package client

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/servicetest"
)

// runDenyingServer starts a nats-server where "reader" may not publish to
// evlog.append and "blind" may not subscribe to its reply inbox.
func runDenyingServer(t *testing.T) *server.Server {
	t.Helper()
	return servicetest.NATS(t, func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "reader", Password: "pw", Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{Deny: []string{"evlog.append"}},
			}},
			{Username: "blind", Password: "pw", Permissions: &server.Permissions{
				Subscribe: &server.SubjectPermission{Deny: []string{"_INBOX.>"}},
			}},
		}
	})
}

func TestPermissionViolationFailsAtOnce(t *testing.T) {
	ns := runDenyingServer(t)
	for _, tc := range []struct {
		name, user string
		call       func(context.Context, *Client) error
		want       string
	}{
		{"publish denied", "reader", func(ctx context.Context, c *Client) error {
			_, err := c.Append(ctx, messages.Record{Value: []byte("x")})
			return err
		}, `publish to "evlog.append"`},
		{"reply inbox denied", "blind", func(ctx context.Context, c *Client) error {
			_, err := c.Info(ctx)
			return err
		}, `subscription to "_inbox.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen atomic.Int32
			nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(tc.user, "pw"),
				nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) { seen.Add(1) }))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			c := New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			err = tc.call(ctx, c)
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(strings.ToLower(err.Error()), tc.want) {
				t.Fatalf("got %v, want a permissions violation naming %s", err, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v: the violation did not end the request", d)
			}
			// The handler given at connect still sees the error.
			deadline := time.Now().Add(5 * time.Second)
			for seen.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if seen.Load() == 0 {
				t.Fatal("the connection's own error handler was not called")
			}
		})
	}
}

func TestPermissionViolationSparesOtherSubjects(t *testing.T) {
	ns := runDenyingServer(t)
	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo("reader", "pw"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A responder on evlog.info, so that the request there can succeed
	// while the append beside it is refused.
	sub, err := nc.Subscribe("evlog.info", func(m *nats.Msg) {
		body, _ := messages.Marshal(&messages.InfoReply{NextOffset: 7})
		_ = m.Respond(body)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	c := New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Append(ctx, messages.Record{Value: []byte("x")}); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Fatalf("append: %v", err)
	}
	inf, err := c.Info(ctx)
	if err != nil || inf.NextOffset != 7 {
		t.Fatalf("info after a refused append: %+v %v", inf, err)
	}
}
