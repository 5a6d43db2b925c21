package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/node"
)

// resolve runs `evlog serve args` up to the point of starting the service
// and returns the options it would start with.
func resolve(t *testing.T, args ...string) (node.Options, string, error) {
	t.Helper()
	var got node.Options
	runService = func(_ context.Context, o node.Options) error {
		got = o
		return nil
	}
	t.Cleanup(func() { runService = node.Run })
	out, err := cli(t, "", append([]string{"serve"}, args...)...)
	return got, out, err
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServeDefaults(t *testing.T) {
	o, _, err := resolve(t)
	if err != nil {
		t.Fatal(err)
	}
	d := service.DefaultConfig()
	if o.Dir != "./data" || o.Prefix != "evlog" || o.NATSListen != "" || o.NATSURL != "" || o.MetricsAddr != "" ||
		o.SyncMode != segment.SyncAlways || o.MaxRecordBytes != d.MaxRecordBytes || o.MaxReadBytes != d.MaxReadBytes ||
		o.MaxBatchRecords != d.MaxBatchRecords || o.MaxPendingAppends != d.MaxPendingAppends ||
		o.MaxStoreBytes != segment.DefaultMaxStoreBytes || o.RetentionBytes != 0 || o.RetentionAge != 0 || o.Logger == nil ||
		o.MaxSnapshots != d.MaxSnapshots || o.SnapshotAckTimeout != d.SnapshotAckTimeout {
		t.Fatalf("defaults: %+v", o)
	}
}

// TestServePrecedence checks the documented order: flag, then
// environment, then config file, then default.
func TestServePrecedence(t *testing.T) {
	cfg := writeFile(t, "evlog.conf", `# every source sets some of these
prefix fromfile
max-record-bytes 3000
max-batch-records 30
max-pending-appends 300 # a trailing comment
metrics-addr 127.0.0.1:9393
log-json
`)
	t.Setenv("EVLOG_CONFIG", cfg)
	t.Setenv("EVLOG_PREFIX", "fromenv")
	t.Setenv("EVLOG_MAX_BATCH_RECORDS", "20")
	o, out, err := resolve(t, "--max-batch-records", "10", "--sync", "interval")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"flag beats env and file", o.MaxBatchRecords, 10},
		{"env beats file", o.Prefix, "fromenv"},
		{"file beats default", o.MaxRecordBytes, 3000},
		{"file with a comment", o.MaxPendingAppends, 300},
		{"file's metrics addr", o.MetricsAddr, "127.0.0.1:9393"},
		{"flag alone", o.SyncMode, segment.SyncInterval},
		{"default", o.Dir, "./data"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}

	// --config on the command line beats EVLOG_CONFIG.
	other := writeFile(t, "other.conf", "max-record-bytes 4000\n")
	o, out, err = resolve(t, "--config", other)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if o.MaxRecordBytes != 4000 || o.MaxPendingAppends != service.DefaultMaxPendingAppends {
		t.Errorf("--config flag: record bytes %d, pending %d", o.MaxRecordBytes, o.MaxPendingAppends)
	}
}

func TestServeInvalidConfig(t *testing.T) {
	badFile := writeFile(t, "bad.conf", "max-wobble 3\n")
	badValue := writeFile(t, "badvalue.conf", "max-record-bytes lots\n")
	for _, tc := range []struct {
		name string
		env  [2]string
		args []string
		want string
	}{
		{"sync mode", [2]string{}, []string{"--sync", "sometimes"}, "--sync"},
		{"store too small", [2]string{}, []string{"--max-store-bytes", "1000"}, "--max-store-bytes 1000 is too small"},
		{"store below record", [2]string{}, []string{"--max-record-bytes", "5000", "--max-store-bytes", "5007"}, "--max-store-bytes"},
		{"index too small", [2]string{}, []string{"--max-index-bytes", "11"}, "--max-index-bytes"},
		{"read below record", [2]string{}, []string{"--max-read-bytes", "100"}, "--max-read-bytes 100 is below --max-record-bytes"},
		{"zero batch", [2]string{}, []string{"--max-batch-records", "0"}, "--max-batch-records"},
		{"negative pending", [2]string{}, []string{"--max-pending-appends", "-1"}, "--max-pending-appends"},
		{"zero wait", [2]string{}, []string{"--max-wait", "0s"}, "--max-wait"},
		{"huge pending", [2]string{}, []string{"--max-pending-appends", "100000000000"}, "--max-pending-appends 100000000000 is not from 0 to"},
		{"huge parked", [2]string{}, []string{"--max-parked-reads", "100000000"}, "--max-parked-reads 100000000 is not from 0 to"},
		{"zero snapshots", [2]string{}, []string{"--max-snapshots", "0"}, "--max-snapshots"},
		{"huge snapshots", [2]string{}, []string{"--max-snapshots", "100000000"}, "--max-snapshots 100000000 is not from 0 to"},
		{"zero snapshot ack", [2]string{}, []string{"--snapshot-ack-timeout", "0s"}, "--snapshot-ack-timeout"},
		{"nats listen", [2]string{}, []string{"--nats-listen", "foo"}, "--nats-listen"},
		{"nats listen port", [2]string{}, []string{"--nats-listen", "127.0.0.1:99999"}, "--nats-listen"},
		{"metrics addr", [2]string{}, []string{"--metrics-addr", "localhost"}, "--metrics-addr"},
		{"metrics port", [2]string{}, []string{"--metrics-addr", ":99999"}, "--metrics-addr"},
		{"token and user", [2]string{}, []string{"--nats-token", "t", "--nats-user", "u"}, "--nats-token and --nats-user conflict"},
		{"creds and nkey", [2]string{}, []string{"--nats-creds", "c", "--nats-nkey", "n"}, "--nats-creds and --nats-nkey conflict"},
		{"password alone", [2]string{}, []string{"--nats-password", "p"}, "--nats-password needs --nats-user"},
		{"tls without url", [2]string{}, []string{"--nats-tls-ca", "ca.pem"}, "--nats-tls-ca needs --nats-url"},
		{"cert without key", [2]string{}, []string{"--nats-url", "nats://x", "--nats-tls-cert", "c"}, "--nats-tls-cert and --nats-tls-key"},
		{"listen with url", [2]string{}, []string{"--nats-url", "nats://x", "--nats-listen", ":4222"}, "--nats-listen"},
		{"nats config with url", [2]string{}, []string{"--nats-url", "nats://x", "--nats-config", "f"}, "--nats-config"},
		{"exposed", [2]string{}, []string{"--nats-listen", "0.0.0.0:4222"}, "--allow-anonymous"},
		{"exposed by env", [2]string{"EVLOG_NATS_LISTEN", ":4222"}, nil, "--nats-config FILE"},
		{"server key without cert", [2]string{}, []string{"--nats-server-tls-key", "k"}, "--nats-server-tls-cert and --nats-server-tls-key"},
		{"server tls with url", [2]string{}, []string{"--nats-url", "nats://x", "--nats-server-tls-cert", "c", "--nats-server-tls-key", "k"}, "conflict with --nats-url"},
		{"log level", [2]string{}, []string{"--log-level", "loud"}, "--log-level"},
		{"negative retention age", [2]string{}, []string{"--retention-age", "-1h"}, "--retention-age -1h0m0s is negative"},
		{"retention age not a duration", [2]string{}, []string{"--retention-age", "week"}, "retention-age"},
		{"retention bytes negative", [2]string{}, []string{"--retention-bytes", "-5"}, "retention-bytes"},
		{"retention bytes below a store", [2]string{"EVLOG_RETENTION_BYTES", "1000"}, nil, "--retention-bytes 1000 is below --max-store-bytes"},
		{"env value", [2]string{"EVLOG_MAX_RECORD_BYTES", "lots"}, nil, "EVLOG_MAX_RECORD_BYTES"},
		{"env conflict", [2]string{"EVLOG_NATS_TOKEN", "t"}, []string{"--nats-creds", "c"}, "--nats-creds and --nats-token conflict"},
		{"unknown option in file", [2]string{}, []string{"--config", badFile}, `"max-wobble"`},
		{"bad value in file", [2]string{}, []string{"--config", badValue}, `"max-record-bytes"`},
		{"missing file", [2]string{}, []string{"--config", "/nonexistent/evlog.conf"}, "/nonexistent/evlog.conf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env[0] != "" {
				t.Setenv(tc.env[0], tc.env[1])
			}
			_, out, err := resolve(t, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %s", err, tc.want)
			}
			if exitCode(err) != 2 {
				t.Fatalf("exit code %d for %v (%s)", exitCode(err), err, out)
			}
		})
	}
}

// TestServeHelpDocumentsEveryOption keeps --help complete: every flag
// appears with its usage.
func TestServeHelpDocumentsEveryOption(t *testing.T) {
	_, out, err := resolve(t, "--help")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("help: %v", err)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addServeFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out, "-"+f.Name+" ") && !strings.Contains(out, "-"+f.Name+"=") || f.Usage == "" {
			t.Errorf("help lacks --%s", f.Name)
		}
	})
	for _, want := range []string{"EVLOG_", "precedence", "/readyz"} {
		if !strings.Contains(out, want) {
			t.Errorf("help does not mention %s", want)
		}
	}
}

// TestServeRetention: the retention options come from the environment
// and the config file like every other.
func TestServeRetention(t *testing.T) {
	cfg := writeFile(t, "evlog.conf", "retention-age 168h\nretention-bytes 1\n")
	t.Setenv("EVLOG_RETENTION_BYTES", "1099511627776")
	o, out, err := resolve(t, "--config", cfg)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if o.RetentionAge != 168*time.Hour || o.RetentionBytes != 1<<40 {
		t.Fatalf("retention %v %d", o.RetentionAge, o.RetentionBytes)
	}
}

// TestServeSecurityFlags: the embedded server's TLS and --allow-anonymous
// reach the node, from flags and the environment.
func TestServeSecurityFlags(t *testing.T) {
	t.Setenv("EVLOG_ALLOW_ANONYMOUS", "true")
	o, out, err := resolve(t, "--nats-listen", "0.0.0.0:-1")
	if err != nil || !o.AllowAnonymous {
		t.Fatalf("--allow-anonymous from the environment: %+v %v %s", o, err, out)
	}
	// The files are read by the validation: the error shows they got
	// there.
	_, out, err = resolve(t, "--nats-server-tls-cert", "/nonexistent/c.pem", "--nats-server-tls-key", "/nonexistent/k.pem")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/c.pem") || exitCode(err) != 2 {
		t.Fatalf("missing server certificate: %v %s", err, out)
	}
}

// TestShippedConfigFile resolves the systemd example config as evlog
// serve would, so that it stays valid, with the roles.conf it names
// where the repository has it and the passwords the unit's
// EnvironmentFile would give.
func TestShippedConfigFile(t *testing.T) {
	b, err := os.ReadFile("../../deployments/systemd/evlog.conf")
	if err != nil {
		t.Fatal(err)
	}
	roles, err := filepath.Abs("../../deployments/nats/roles.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := writeFile(t, "evlog.conf", strings.ReplaceAll(string(b), "/etc/evlog/roles.conf", roles))
	for _, v := range []string{"EVLOG_NATS_PASSWORD", "PRODUCER_NATS_PASSWORD", "CONSUMER_NATS_PASSWORD", "ADMIN_NATS_PASSWORD"} {
		t.Setenv(v, "pw")
	}
	o, out, err := resolve(t, "--config", conf)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if o.Dir != "/var/lib/evlog" || o.MetricsAddr != "127.0.0.1:9090" || o.NATSListen != "127.0.0.1:4222" ||
		o.NATSConfigFile != roles || o.User != "evlog" || o.Password != "pw" {
		t.Fatalf("resolved %+v", o)
	}
}

// TestShippedClusterConfigFile resolves the systemd example config of a
// cluster node as evlog serve would: a node that lists itself in the
// peers at the address it advertises, with Raft's mutual TLS, whose
// certificates' names raft-certs.sh makes, and the roles on its NATS.
func TestShippedClusterConfigFile(t *testing.T) {
	b, err := os.ReadFile("../../deployments/systemd/evlog-cluster.conf")
	if err != nil {
		t.Fatal(err)
	}
	roles, err := filepath.Abs("../../deployments/nats/roles.conf")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "/etc/evlog/roles.conf", roles)
	conf := writeFile(t, "evlog.conf", text)
	for _, v := range []string{"EVLOG_NATS_PASSWORD", "PRODUCER_NATS_PASSWORD", "CONSUMER_NATS_PASSWORD", "ADMIN_NATS_PASSWORD"} {
		t.Setenv(v, "pw")
	}
	o, out, err := resolve(t, "--config", conf)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := "evlog-1=" + o.RaftAdvertise
	if o.NodeID != "evlog-1" || !strings.Contains(o.Peers, want) || o.NATSConfigFile != roles || o.NATSClusterListen == "" {
		t.Fatalf("resolved %+v: want node evlog-1 in the peers as %s", o, want)
	}
	// The TLS files are where raft-certs.sh DIR evlog-1=... puts them.
	for _, f := range []string{o.RaftTLSCertFile, o.RaftTLSKeyFile, o.RaftTLSCAFile} {
		if dir, name := filepath.Split(f); dir != "/etc/evlog/raft/" || (name != "ca.crt" && !strings.HasPrefix(name, o.NodeID+".")) {
			t.Errorf("Raft TLS file %s is not one raft-certs.sh makes for %s", f, o.NodeID)
		}
	}
}

// TestServeHelpSaysWhatEachSyncModeSurvives keeps --sync's help exact
// about which failure each mode survives and when offsets may be reused.
func TestServeHelpSaysWhatEachSyncModeSurvives(t *testing.T) {
	out, _, err := cliStreams(t, "", "serve", "--help")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve --help: %v", err)
	}
	var help string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "-sync ") {
			help = line
		}
	}
	for _, want := range []string{"process crash", "always: also a power loss", "interval: a power loss", "never: a power loss", "offset"} {
		if !strings.Contains(help, want) {
			t.Errorf("--sync help %q lacks %q", help, want)
		}
	}
}
