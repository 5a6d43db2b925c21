package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
)

// The replicated benchmark runs real `evlog serve` processes: a cluster
// of three nodes on loopback and one single node with --sync always, all
// joining one nats-server of the benchmark's process, next to two
// JetStream clusters of three servers (replicas 3, file storage), one
// syncing every write and one on its default. It takes a minute or two,
// so it runs only when asked:
//
//	EVLOG_BENCH_CLUSTER=1 go test -run '^$' -bench Replicated -benchtime 3s ./e2e
//
// With EVLOG_BENCH_CLUSTER_PROFILE=DIR as well, perf record samples the
// leader's process during the replicated appends at 64 in flight into
// DIR/leader.perf.data (perf report -i ... reads it).
const (
	clusterBenchEnv    = "EVLOG_BENCH_CLUSTER"
	clusterProfileEnv  = "EVLOG_BENCH_CLUSTER_PROFILE"
	replicatedPayload  = 100
	replicatedPrefix   = "evlog" // the cluster's, the default
	singleAlwaysPrefix = "evlog-always"
)

// profiledLoad is the load whose leader process the profile samples.
var profiledLoad = shape{inflight: 64, batch: 1}

// replicatedLoads are the loads of BenchmarkReplicatedAppend and the
// targets measured under each. JetStream publishes one record at a time,
// so it sits out the batches; its synchronous Publish runs one at a
// time and its async publish fills the windows.
var replicatedLoads = []struct {
	shape   shape
	targets []string
}{
	{shape{inflight: 1, batch: 1}, []string{"evlog-r3", "evlog-always", "jetstream-r3-always-sync", "jetstream-r3-default-sync"}},
	{shape{inflight: 64, batch: 1}, []string{"evlog-r3", "evlog-always", "jetstream-r3-always-async", "jetstream-r3-default-async"}},
	{shape{inflight: maxAsyncPending, batch: 1}, []string{"evlog-r3", "evlog-always", "jetstream-r3-always-async", "jetstream-r3-default-async"}},
	{shape{inflight: 1, batch: 100}, []string{"evlog-r3", "evlog-always"}},
	{shape{inflight: 64, batch: 100}, []string{"evlog-r3", "evlog-always"}},
}

// A measured target is a target and the processes whose disk writes
// are its cost.
type measured struct {
	target
	pids []int
}

// BenchmarkReplicatedAppend appends records of 100 B to a three-node
// evlog cluster (Raft's log synced for every batch), to a single evlog
// node under --sync always and to JetStream R3 with sync_interval
// always and with its default, and reports records/s, latency, and what
// reached the disk: wbytes/B, bytes written per acknowledged payload
// byte summed over the target's processes (three nodes for the
// clusters), and fsyncs/req, fsync and fdatasync calls per acknowledged
// request, where perf can count them. Names read
// size=BYTES/inflight=N/batch=N/target=NAME.
func BenchmarkReplicatedAppend(b *testing.B) {
	if os.Getenv(clusterBenchEnv) == "" {
		b.Skipf("runs a three-node cluster and JetStream R3; set %s=1 to run", clusterBenchEnv)
	}
	targets := replicatedTargets(b)
	profileDir := os.Getenv(clusterProfileEnv)
	for _, load := range replicatedLoads {
		for _, name := range load.targets {
			t, ok := targets[name]
			if !ok {
				b.Fatalf("no target %q", name)
			}
			b.Run(fmt.Sprintf("size=%d/%v/target=%s", replicatedPayload, load.shape, name), func(b *testing.B) {
				if profileDir != "" && name == "evlog-r3" && load.shape == profiledLoad {
					defer recordProfile(b, t.pids[0], filepath.Join(profileDir, "leader.perf.data"))()
				}
				probe := &diskProbe{pids: t.pids}
				probe.start(b)
				drive(b, replicatedPayload, load.shape, t.target)
				probe.stop(b).report(b, b.N*replicatedPayload, (b.N+load.shape.batch-1)/load.shape.batch)
			})
		}
	}
}

// replicatedTargets starts everything BenchmarkReplicatedAppend measures
// and returns its targets by name. The cluster's leader is the first of
// evlog-r3's pids.
func replicatedTargets(b *testing.B) map[string]measured {
	b.Helper()
	bin := buildBinary(b)
	url := servicetest.NATS(b, nil).ClientURL()
	nc := connect(b, url)
	bc := newBinaryCluster(b, bin, url, 3)
	st := bc.awaitStatus(client.New(nc, client.WithTimeout(2*time.Second)), "all three nodes and a leader", allUp)
	clusterPids := []int{bc.node(st.Leader).cmd.Process.Pid}
	for _, nd := range bc.nodes {
		if nd.id != st.Leader {
			clusterPids = append(clusterPids, nd.cmd.Process.Pid)
		}
	}
	single := startSingleNode(b, bin, url, singleAlwaysPrefix, "--sync", "always")

	self := []int{os.Getpid()} // the JetStream servers run in this process
	targets := map[string]measured{
		"evlog-r3":     {appendTarget("evlog-r3", nc, replicatedPrefix, replicatedPayload, true), clusterPids},
		"evlog-always": {appendTarget("evlog-always", nc, singleAlwaysPrefix, replicatedPayload, true), []int{single}},
	}
	for _, sync := range []string{"always", "default"} {
		servers := jetStreamCluster(b, "js-"+sync, sync == "always")
		p := newReplicatedPublisher(b, connect(b, servers[0].ClientURL()))
		name := "jetstream-r3-" + sync
		targets[name+"-sync"] = measured{jsSyncTarget(name+"-sync", p.js, replicatedPayload), self}
		targets[name+"-async"] = measured{p.target(name+"-async", replicatedPayload), self}
	}
	return targets
}

// startSingleNode runs a single-node `evlog serve` on a fresh directory
// joining the NATS at url under prefix, waits until it answers and
// returns its pid. It is killed when the benchmark ends.
func startSingleNode(b *testing.B, bin, url, prefix string, extra ...string) int {
	b.Helper()
	args := append([]string{"serve", "--dir", b.TempDir(), "--nats-url", url, "--prefix", prefix, "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	stderr := &servicetest.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start evlog: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	nc := connect(b, url)
	defer nc.Close()
	c := client.New(nc, client.WithPrefix(prefix), client.WithTimeout(time.Second))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.Info(context.Background()); err == nil {
			return cmd.Process.Pid
		}
		select {
		case err := <-done:
			b.Fatalf("evlog serve exited early: %v\n%s", err, stderr)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("evlog serve did not answer in time\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recordProfile samples pid's stacks with perf record into out until the
// returned function is called. Without perf it logs why and does nothing.
func recordProfile(b *testing.B, pid int, out string) func() {
	b.Helper()
	path, err := exec.LookPath("perf")
	if err != nil {
		b.Logf("no profile: %v", err)
		return func() {}
	}
	cmd := exec.Command(path, "record", "-q", "-g", "-F", "999", "-o", out, "-p", fmt.Sprint(pid))
	stderr := &servicetest.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		b.Logf("no profile: %v", err)
		return func() {}
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		// perf writes its file on SIGINT and then ends by that signal.
		err := cmd.Wait()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT {
			err = nil
		}
		if err != nil {
			b.Logf("perf record: %v\n%s", err, stderr)
		}
	}
}
