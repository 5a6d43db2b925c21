package service

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/evlog/evlog/service/servicetest"
)

func TestServiceName(t *testing.T) {
	for prefix, want := range map[string]string{
		"evlog":         "evlog",
		"orders.eu":     "evlog-orders_eu",
		"a-b_C9":        "evlog-a-b_C9",
		"évlog.x$y":     "evlog-_vlog_x_y",
		"evlog.archive": "evlog-evlog_archive",
	} {
		if got := ServiceName(prefix); got != want {
			t.Errorf("ServiceName(%q) = %q, want %q", prefix, got, want)
		}
	}
	if got := DefaultConfig().Name; got != DefaultName {
		t.Errorf("default config name %q", got)
	}
}

// TestServicesPerPrefix: two logs on one NATS server are two micro
// services, each found by its name with its exact prefix in the metadata,
// and both found by a ping.
func TestServicesPerPrefix(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	serveFake(t, ns.ClientURL(), Config{}, newFakeLog())
	serveFake(t, ns.ClientURL(), Config{Prefix: "orders.eu"}, newFakeLog())
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	for name, prefix := range map[string]string{"evlog": "evlog", "evlog-orders_eu": "orders.eu"} {
		infos := collect[micro.Info](t, nc, "$SRV.INFO."+name, 1)
		if len(infos) != 1 {
			t.Fatalf("%s: %d services answered", name, len(infos))
		}
		info := infos[0]
		if info.Name != name || info.Metadata["prefix"] != prefix || len(info.Endpoints) != int(numEndpoints)+3 {
			t.Fatalf("%s: %+v", name, info)
		}
		for _, ep := range info.Endpoints {
			// The membership endpoints, cluster-add and so on, are on
			// PREFIX.cluster.add.
			if want := prefix + "." + strings.Replace(ep.Name, "cluster-", "cluster.", 1); ep.Subject != want {
				t.Fatalf("%s: endpoint %s on %s, want %s", name, ep.Name, ep.Subject, want)
			}
		}
	}
	pings := collect[micro.Ping](t, nc, "$SRV.PING", 2)
	names := map[string]bool{}
	for _, p := range pings {
		names[p.Name] = true
	}
	if len(names) != 2 || !names["evlog"] || !names["evlog-orders_eu"] {
		t.Fatalf("ping answered by %v", names)
	}
}

// collect sends a request to subject and decodes the replies until want
// have come, then waits a little more for any beyond them.
func collect[T any](t *testing.T, nc *nats.Conn, subject string, want int) []T {
	t.Helper()
	sub, err := nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(subject, sub.Subject, nil); err != nil {
		t.Fatal(err)
	}
	var got []T
	for {
		// A short wait once enough have come: an extra reply would
		// come as fast as the others.
		wait := 5 * time.Second
		if len(got) >= want {
			wait = 200 * time.Millisecond
		}
		m, err := sub.NextMsg(wait)
		if err != nil {
			if len(got) < want {
				t.Fatalf("%s: %d replies, want %d: %v", subject, len(got), want, err)
			}
			return got
		}
		var v T
		if err := json.Unmarshal(m.Data, &v); err != nil {
			t.Fatalf("%s: %v: %s", subject, err, m.Data)
		}
		got = append(got, v)
	}
}
