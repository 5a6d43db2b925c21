package e2e

import (
	"fmt"
	"testing"

	"github.com/evlog/evlog/segment"
)

// appendLoads are the loads of BenchmarkAppend and the targets measured
// under each. JetStream has no multi-record publish, so it sits out the
// batches; its synchronous Publish waits for each ack, so it runs one at a
// time, and its async publish fills the windows.
var appendLoads = []struct {
	shape   shape
	targets []string
}{
	{shape{inflight: 1, batch: 1}, []string{
		"echo", "echo-tcp", "evlog-always", "evlog-interval", "evlog-never", "evlog-never-tcp",
		"jetstream-always-sync", "jetstream-default-sync",
	}},
	{shape{inflight: 64, batch: 1}, []string{
		"echo", "echo-tcp", "evlog-always", "evlog-interval", "evlog-never", "evlog-never-tcp",
		"jetstream-always-async", "jetstream-default-async",
	}},
	{shape{inflight: maxAsyncPending, batch: 1}, []string{
		"evlog-always", "jetstream-always-async", "jetstream-default-async",
	}},
	{shape{inflight: 1, batch: 100}, []string{"echo", "evlog-always", "evlog-interval", "evlog-never"}},
	{shape{inflight: 4, batch: 100}, []string{"echo", "evlog-always", "evlog-interval", "evlog-never"}},
	{shape{inflight: 64, batch: 100}, []string{"echo", "evlog-always", "evlog-interval", "evlog-never"}},
}

// BenchmarkAppend appends records of each payload size under each load to
// the echo ceiling, evlog in every sync mode and JetStream with its default
// sync and with SyncAlways. Names read
// size=BYTES/inflight=N/batch=N/target=NAME.
func BenchmarkAppend(b *testing.B) {
	ns := jetStreamServer(b, false)
	nsAlways := jetStreamServer(b, true)
	nc := connect(b, ns.ClientURL())
	ncAlways := connect(b, nsAlways.ClientURL())

	echoResponder(b, ns, false, "echo", nil)
	echoResponder(b, ns, true, "echo-tcp", nil)
	for _, mode := range syncModes {
		serveLog(b, ns, false, b.TempDir(), evlogPrefix(mode, false), mode)
	}
	serveLog(b, ns, true, b.TempDir(), evlogPrefix(segment.SyncNever, true), segment.SyncNever)
	jsDefault := newAsyncPublisher(b, nc)
	jsAlways := newAsyncPublisher(b, ncAlways)

	for _, size := range payloads {
		targets := map[string]target{
			"echo":                    appendTarget("echo", nc, "echo", size, false),
			"echo-tcp":                appendTarget("echo-tcp", nc, "echo-tcp", size, false),
			"jetstream-always-sync":   jsSyncTarget("jetstream-always-sync", jsAlways.js, size),
			"jetstream-default-sync":  jsSyncTarget("jetstream-default-sync", jsDefault.js, size),
			"jetstream-always-async":  jsAlways.target("jetstream-always-async", size),
			"jetstream-default-async": jsDefault.target("jetstream-default-async", size),
		}
		for _, mode := range syncModes {
			for _, tcp := range []bool{false, true} {
				p := evlogPrefix(mode, tcp)
				targets[p] = appendTarget(p, nc, p, size, true)
			}
		}
		for _, load := range appendLoads {
			for _, name := range load.targets {
				t, ok := targets[name]
				if !ok {
					b.Fatalf("no target %q", name)
				}
				b.Run(fmt.Sprintf("size=%d/%v/target=%s", size, load.shape, name), func(b *testing.B) {
					drive(b, size, load.shape, t)
				})
			}
		}
	}
}
