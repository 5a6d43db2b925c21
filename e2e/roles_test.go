package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/client"
)

// rolesServer is `evlog serve` with the embedded server configured by
// deployments/nats/roles.conf and test passwords.
type rolesServer struct {
	url string
	p   *proc
	pw  map[string]string // password by user
}

// startWithRoles copies roles.conf into a temporary directory and runs
// the binary with it, the service as user evlog, the passwords in the
// environment.
func startWithRoles(t *testing.T, bin string, extra ...string) *rolesServer {
	t.Helper()
	b, err := os.ReadFile("../deployments/nats/roles.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "roles.conf")
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := &rolesServer{pw: map[string]string{}}
	var env []string
	for _, u := range []string{"evlog", "producer", "consumer", "admin"} {
		r.pw[u] = "test-pw-" + u
		env = append(env, fmt.Sprintf("%s_NATS_PASSWORD=%s", strings.ToUpper(u), r.pw[u]))
	}
	port := freePort(t)
	r.url = fmt.Sprintf("nats://127.0.0.1:%d", port)
	args := append([]string{"--nats-config", conf, "--nats-user", "evlog", "--nats-listen", fmt.Sprintf("127.0.0.1:%d", port)}, extra...)
	r.p = startServe(t, bin, env, infoProbe(r.url, nats.UserInfo("admin", r.pw["admin"])), args...)
	return r
}

// roleConn is one client connection as a role, with its asynchronous
// errors, where the server's permission violations arrive.
type roleConn struct {
	nc   *nats.Conn
	c    *client.Client
	errs *asyncErrors
}

func (r *rolesServer) as(t *testing.T, user string) roleConn {
	t.Helper()
	errs := &asyncErrors{}
	nc := connectAs(t, r.url, nats.UserInfo(user, r.pw[user]), nats.ErrorHandler(errs.handler))
	return roleConn{nc: nc, c: client.New(nc), errs: errs}
}

// refusedAtOnce checks that op fails with the server's permissions
// violation, well before its 10 s deadline.
func refusedAtOnce(t *testing.T, what string, op func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := op(ctx)
	if !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("%s: %v, want a permissions violation", what, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("%s: refused after %v, not at once", what, took)
	}
}

// deniedAsync publishes or subscribes through do and waits for the
// server's permissions violation naming subject.
func (rc roleConn) deniedAsync(t *testing.T, what, subject string, do func() error) {
	t.Helper()
	if err := do(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := rc.nc.Flush(); err != nil {
		t.Fatalf("%s: flush: %v", what, err)
	}
	waitFor(t, what+" refused", func() bool {
		return rc.errs.has(`permissions violation`) && rc.errs.has(`"`+strings.ToLower(subject)+`"`)
	})
}

// TestBinaryRoles runs the binary with the shipped roles and checks what
// each role may and may not do.
func TestBinaryRoles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	r := startWithRoles(t, buildBinary(t))
	producer, consumer, admin := r.as(t, "producer"), r.as(t, "consumer"), r.as(t, "admin")
	ctx := ctxT(t)

	t.Run("producer", func(t *testing.T) {
		if _, err := producer.c.Append(ctx, rec(val(0)), rec(val(1))); err != nil {
			t.Fatalf("append: %v", err)
		}
		if rr, err := producer.c.Read(ctx, 0, client.ReadOptions{MaxRecords: 10}); err != nil || len(rr.Records) < 2 {
			t.Fatalf("read: %+v %v", rr, err)
		}
		if _, err := producer.c.Info(ctx); err != nil {
			t.Fatalf("info: %v", err)
		}
		if _, err := producer.nc.Request("$SRV.INFO", nil, 5*time.Second); err != nil {
			t.Fatalf("$SRV.INFO: %v", err)
		}
		refusedAtOnce(t, "producer truncate", func(ctx context.Context) error { _, err := producer.c.Truncate(ctx, 1); return err })
		refusedAtOnce(t, "producer snapshot", func(ctx context.Context) error {
			_, err := producer.c.Snapshot(ctx, io.Discard, 0)
			return err
		})
	})

	t.Run("consumer", func(t *testing.T) {
		if rr, err := consumer.c.Read(ctx, 0, client.ReadOptions{MaxRecords: 10}); err != nil || len(rr.Records) == 0 {
			t.Fatalf("read: %+v %v", rr, err)
		}
		if _, err := consumer.c.Info(ctx); err != nil {
			t.Fatalf("info: %v", err)
		}
		refusedAtOnce(t, "consumer append", func(ctx context.Context) error { _, err := consumer.c.Append(ctx, rec(val(9))); return err })
		refusedAtOnce(t, "consumer truncate", func(ctx context.Context) error { _, err := consumer.c.Truncate(ctx, 1); return err })
	})

	// Membership changes and the cluster's status are admin's alone. On a
	// single node admin's requests reach the service, which answers that
	// it is not a cluster; the others never get that far.
	t.Run("cluster", func(t *testing.T) {
		for _, rc := range []struct {
			name string
			rc   roleConn
		}{{"producer", producer}, {"consumer", consumer}} {
			c := rc.rc.c
			refusedAtOnce(t, rc.name+" cluster add", func(ctx context.Context) error { _, err := c.ClusterAdd(ctx, "n9", "127.0.0.1:7009"); return err })
			refusedAtOnce(t, rc.name+" cluster remove", func(ctx context.Context) error { _, err := c.ClusterRemove(ctx, "n9"); return err })
			refusedAtOnce(t, rc.name+" cluster transfer", func(ctx context.Context) error { _, err := c.ClusterTransfer(ctx, ""); return err })
			refusedAtOnce(t, rc.name+" cluster status", func(ctx context.Context) error { _, err := c.ClusterStatus(ctx); return err })
		}
		if _, err := admin.c.ClusterAdd(ctx, "n9", "127.0.0.1:7009"); !errors.Is(err, client.ErrNotCluster) {
			t.Fatalf("admin cluster add on a single node: %v, want ErrNotCluster", err)
		}
		if _, err := admin.c.ClusterRemove(ctx, "n9"); !errors.Is(err, client.ErrNotCluster) {
			t.Fatalf("admin cluster remove on a single node: %v, want ErrNotCluster", err)
		}
	})

	t.Run("forged committed", func(t *testing.T) {
		sub, err := consumer.nc.SubscribeSync(messages.NewSubjects(messages.DefaultPrefix).Committed)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := consumer.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		forged, err := messages.Marshal(messages.Committed{FirstOffset: 1000, LastOffset: 1999})
		if err != nil {
			t.Fatal(err)
		}
		producer.deniedAsync(t, "producer publishes committed", "evlog.committed", func() error {
			return producer.nc.Publish("evlog.committed", forged)
		})
		admin.deniedAsync(t, "admin publishes events", "evlog.events", func() error {
			return admin.nc.Publish("evlog.events", forged)
		})
		// The next notification the consumer sees is the service's, for
		// this append: the forged one never arrived.
		rep, err := producer.c.Append(ctx, rec(val(2)))
		if err != nil {
			t.Fatal(err)
		}
		msg, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("committed: %v", err)
		}
		var got messages.Committed
		if err := messages.Unmarshal(msg.Data, &got); err != nil || got.FirstOffset != rep.FirstOffset || got.LastOffset != rep.LastOffset {
			t.Fatalf("consumer got %+v (%v), want the append's %+v", got, err, rep)
		}
	})

	t.Run("nobody else answers", func(t *testing.T) {
		for _, rc := range []struct {
			name string
			rc   roleConn
		}{{"producer", producer}, {"consumer", consumer}, {"admin", admin}} {
			for _, subject := range []string{"evlog.info", "evlog.append", "$SRV.INFO"} {
				rc.rc.deniedAsync(t, rc.name+" subscribes to "+subject, subject, func() error {
					_, err := rc.rc.nc.Subscribe(subject, func(m *nats.Msg) { _ = m.Respond([]byte("forged")) })
					return err
				})
			}
			rc.rc.deniedAsync(t, rc.name+" publishes to an inbox", "_INBOX.forged", func() error {
				return rc.rc.nc.Publish("_INBOX.forged", []byte("forged"))
			})
		}
		// Only the service's answer arrives.
		info, err := consumer.c.Info(ctx)
		if err != nil || info.NextOffset != 3 {
			t.Fatalf("info after the attempts: %+v %v", info, err)
		}
	})

	t.Run("admin", func(t *testing.T) {
		events, err := consumer.nc.SubscribeSync("evlog.events")
		if err != nil {
			t.Fatal(err)
		}
		defer events.Unsubscribe()
		if err := consumer.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.c.Append(ctx, rec(val(3))); err != nil {
			t.Fatalf("append: %v", err)
		}
		if _, err := admin.c.Truncate(ctx, 1); err != nil {
			t.Fatalf("truncate: %v", err)
		}
		if _, err := events.NextMsg(10 * time.Second); err != nil {
			t.Fatalf("consumer saw no truncate event: %v", err)
		}
		sum, err := admin.c.Snapshot(ctx, io.Discard, 0)
		if err != nil || sum.Chunks == 0 {
			t.Fatalf("snapshot: %+v %v", sum, err)
		}
	})

	if err := r.p.signal(t, os.Interrupt); err != nil {
		t.Fatalf("stop: %v\n%s", err, r.p.stderr)
	}
}
