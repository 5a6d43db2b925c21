package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/micro"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/segmenttest"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
	// Aliased: the e2e harness has a type node.
	evnode "github.com/evlog/evlog/service/node"
)

// httpClient keeps no idle connections, which goleak would report.
var httpClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// get fetches url and returns the status and the body.
func get(tb testing.TB, url string) (int, string) {
	tb.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// scrape fetches and parses the Prometheus text exposition at base.
func scrape(tb testing.TB, base string) map[string]*dto.MetricFamily {
	tb.Helper()
	resp, err := httpClient.Get(base + "/metrics")
	if err != nil {
		tb.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("scrape: status %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		tb.Fatalf("parse metrics: %v", err)
	}
	return mfs
}

// metricValue returns the value of the sample of name whose labels
// include the given name=value pairs: a counter's or gauge's value, a
// histogram's count.
func metricValue(tb testing.TB, mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	tb.Helper()
	mf, ok := mfs[name]
	if !ok {
		tb.Fatalf("no metric %s", name)
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	tb.Fatalf("no sample of %s with labels %v", name, labels)
	return 0
}

// runWithMetrics runs the service with an HTTP listener on a random port
// and returns it and the listener's base URL.
func runWithMetrics(t *testing.T, o evnode.Options) (*running, string) {
	t.Helper()
	addr := make(chan string, 1)
	o.MetricsAddr = "127.0.0.1:0"
	o.MetricsReady = func(a string) { addr <- a }
	if o.NATSURL == "" && o.NATSListen == "" {
		o.NATSListen = "127.0.0.1:-1"
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	r := runEvlog(t, o)
	return r, "http://" + <-addr
}

func TestMetricsCountAppendsAndErrors(t *testing.T) {
	r, base := runWithMetrics(t, evnode.Options{MaxBatchRecords: 5})
	nc := connect(t, r.url)
	c := client.New(nc)
	ctx := ctxT(t)

	before := scrape(t, base)
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "evlog_log_segments"} {
		if _, ok := before[name]; !ok {
			t.Errorf("no %s before any request", name)
		}
	}
	if got := metricValue(t, before, "evlog_requests_total", "endpoint", "append", "code", "200"); got != 0 {
		t.Fatalf("appends counted before any: %v", got)
	}

	// 10 requests of 3 records, one of 6 (413), one read beyond the end
	// (404), a truncate and an info.
	for i := range 10 {
		if _, err := c.Append(ctx, rec(val(3*i)), rec(val(3*i+1)), rec(val(3*i+2))); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	six := make([]messages.Record, 6)
	for i := range six {
		six[i] = rec(val(i))
	}
	if _, err := c.Append(ctx, six...); !errors.Is(err, client.ErrTooLarge) {
		t.Fatalf("batch over the limit: %v", err)
	}
	if _, err := c.Read(ctx, 99, client.ReadOptions{}); !errors.Is(err, client.ErrOffsetOutOfRange) {
		t.Fatalf("read beyond the end: %v", err)
	}
	if _, err := c.Read(ctx, 0, client.ReadOptions{MaxRecords: 30}); err != nil {
		t.Fatalf("read: %v", err)
	}
	if _, err := c.Truncate(ctx, 0); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	if _, err := c.Info(ctx); err != nil {
		t.Fatalf("info: %v", err)
	}

	m := scrape(t, base)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"evlog_requests_total", []string{"endpoint", "append", "code", "200"}, 10},
		{"evlog_requests_total", []string{"endpoint", "append", "code", "413"}, 1},
		{"evlog_requests_total", []string{"endpoint", "read", "code", "404"}, 1},
		{"evlog_requests_total", []string{"endpoint", "read", "code", "200"}, 1},
		{"evlog_requests_total", []string{"endpoint", "truncate", "code", "200"}, 1},
		{"evlog_requests_total", []string{"endpoint", "info", "code", "200"}, 1},
		{"evlog_request_duration_seconds", []string{"endpoint", "append"}, 11},
		{"evlog_request_duration_seconds", []string{"endpoint", "read"}, 2},
		{"evlog_appended_records_total", nil, 30},
		{"evlog_committed_offset", nil, 30},
		{"evlog_log_next_offset", nil, 30},
		{"evlog_log_lowest_offset", nil, 0},
		{"evlog_log_segments", nil, 1},
		{"evlog_pending_appends", nil, 0},
		{"evlog_failed", nil, 0},
		{"evlog_recovered_segments_total", nil, 0},
	} {
		if got := metricValue(t, m, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// Sequential appends under SyncAlways: one group commit and one fsync
	// each, or fewer fsyncs if commits ever shared one.
	if got := metricValue(t, m, "evlog_group_commit_appends"); got < 1 || got > 10 {
		t.Errorf("group commits %v, want 1 to 10", got)
	}
	if got := metricValue(t, m, "evlog_fsync_duration_seconds"); got < 1 || got > 10 {
		t.Errorf("fsyncs %v, want 1 to 10", got)
	}
	if got := metricValue(t, m, "evlog_appended_bytes_total"); got < 30*float64(len(val(0))) {
		t.Errorf("appended bytes %v, less than the values alone", got)
	}
	if got := metricValue(t, m, "evlog_log_bytes"); got < 30*float64(len(val(0))) {
		t.Errorf("log bytes %v, less than the values alone", got)
	}

	// micro's $SRV.STATS carries the same counters.
	msg, err := nc.Request("$SRV.STATS.evlog", nil, 5*time.Second)
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	var stats micro.Stats
	if err := json.Unmarshal(msg.Data, &stats); err != nil {
		t.Fatalf("stats: %v", err)
	}
	seen := map[string]bool{}
	for _, e := range stats.Endpoints {
		var data service.EndpointStats
		if err := json.Unmarshal(e.Data, &data); err != nil {
			t.Fatalf("stats data of %s: %v: %s", e.Name, err, e.Data)
		}
		seen[e.Name] = true
		if data.CommittedOffset != 30 {
			t.Errorf("%s: committed offset %d", e.Name, data.CommittedOffset)
		}
		for code, n := range data.Requests {
			if want := metricValue(t, m, "evlog_requests_total", "endpoint", e.Name, "code", code); float64(n) != want {
				t.Errorf("%s %s: stats %d, metrics %v", e.Name, code, n, want)
			}
		}
		if e.Name == "append" {
			if data.Appends == nil || data.Appends.Records != 30 || data.Appends.Fsyncs == 0 {
				t.Errorf("append stats %+v", data.Appends)
			}
		} else if data.Appends != nil {
			t.Errorf("%s has append stats", e.Name)
		}
	}
	// The five of the log, and the three membership endpoints, which a
	// single node answers with "not a cluster".
	for _, name := range []string{"append", "read", "truncate", "info", "snapshot", "cluster-add", "cluster-remove", "cluster-transfer"} {
		if !seen[name] {
			t.Errorf("no stats of endpoint %s in %v", name, seen)
		}
	}
	if len(seen) != 8 {
		t.Errorf("stats of endpoints %v", seen)
	}
}

func TestHealthEndpoints(t *testing.T) {
	r, base := runWithMetrics(t, evnode.Options{})
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("readyz: %d %q", code, body)
	}
	if code, _ := get(t, base+"/nothing"); code != http.StatusNotFound {
		t.Fatalf("unknown path: %d", code)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := httpClient.Get(base + "/healthz"); err == nil {
		t.Fatal("listener still open after Run returned")
	}
}

// blockingHandler is a slog.Handler that, on the first record whose
// message is msg, signals reached and waits for release.
type blockingHandler struct {
	msg     string
	once    *sync.Once
	reached chan struct{}
	release chan struct{}
}

func (h blockingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h blockingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h blockingHandler) WithGroup(string) slog.Handler            { return h }
func (h blockingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() {
			close(h.reached)
			<-h.release
		})
	}
	return nil
}

func TestReadinessFlipsDuringShutdown(t *testing.T) {
	// Run logs "stopping" once readiness has flipped and before it stops
	// anything; holding the log record there holds the shutdown.
	h := blockingHandler{msg: "stopping", once: new(sync.Once), reached: make(chan struct{}), release: make(chan struct{})}
	r, base := runWithMetrics(t, evnode.Options{Logger: slog.New(h)})
	nc := connect(t, r.url)
	c := client.New(nc)
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz before shutdown: %d", code)
	}

	r.cancel()
	<-h.reached
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || body != "shutting down\n" {
		t.Errorf("readyz during shutdown: %d %q", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz during shutdown: %d", code)
	}
	// The service itself still answers until its actor stops it.
	if _, err := c.Info(ctxT(t)); err != nil {
		t.Errorf("info during shutdown: %v", err)
	}
	close(h.release)
	if err := r.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func TestReadinessFollowsNATS(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	port := ns.Addr().(*net.TCPAddr).Port
	r, base := runWithMetrics(t, evnode.Options{NATSURL: ns.ClientURL()})
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz: %d", code)
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	waitFor(t, "readyz to report the lost connection", func() bool {
		code, body := get(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.HasPrefix(body, "nats ")
	})
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz while NATS is away: %d", code)
	}

	// A server back on the same port: the connection and readiness
	// return.
	servicetest.NATS(t, func(o *server.Options) { o.Port = port })
	waitFor(t, "readyz after NATS returned", func() bool {
		code, _ := get(t, base+"/readyz")
		return code == http.StatusOK
	})
	// Stopped here, while the new server still runs.
	if err := r.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func TestBinaryServesMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startBinary(t, bin, t.TempDir(), "--metrics-addr", addr, "--sync", "never")
	nc := connect(t, p.url)
	if _, err := client.New(nc).Append(ctxT(t), rec(val(0)), rec(val(1))); err != nil {
		t.Fatalf("append: %v", err)
	}
	if code, _ := get(t, "http://"+addr+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz: %d", code)
	}
	m := scrape(t, "http://"+addr)
	if got := metricValue(t, m, "evlog_appended_records_total"); got != 2 {
		t.Fatalf("appended records %v, want 2", got)
	}
	// No fsync by the committer under --sync never.
	if got := metricValue(t, m, "evlog_fsync_duration_seconds"); got != 0 {
		t.Fatalf("fsyncs %v under --sync never", got)
	}
	nc.Close()
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.stderr)
	}
}

// TestMaxReadBytes checks the read limit that --max-read-bytes sets: a
// reply holds no more record bytes than it allows, and a record written
// under a larger limit cannot be read under it (413).
func TestMaxReadBytes(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	dir := t.TempDir()
	big := make([]byte, 1500)
	n := startNode(t, ns.ClientURL(), dir, smallSegments(), service.Config{MaxRecordBytes: 2000})
	c := client.New(connect(t, ns.ClientURL()))
	ctx := ctxT(t)
	if _, err := c.Append(ctx, rec(big), rec(val(1)), rec(val(2)), rec(val(3))); err != nil {
		t.Fatalf("append: %v", err)
	}
	n.stop(t)

	startNode(t, ns.ClientURL(), dir, smallSegments(), service.Config{MaxRecordBytes: 100, MaxReadBytes: 100})
	if _, err := c.Read(ctx, 0, client.ReadOptions{}); !errors.Is(err, client.ErrTooLarge) {
		t.Fatalf("read of a record over the limit: %v", err)
	}
	rr, err := c.Read(ctx, 1, client.ReadOptions{MaxRecords: 10, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	// Each record takes about 45 bytes: two fit in 100, three do not.
	if len(rr.Records) != 2 || rr.NextOffset != 3 {
		t.Fatalf("read under a 100-byte limit returned %d records, next %d", len(rr.Records), rr.NextOffset)
	}
}

// TestMetricsReportRecovery leaves a torn frame at the end of the active
// store, as a crash mid-write would, and checks that the recovery at
// start shows in the metrics.
func TestMetricsReportRecovery(t *testing.T) {
	dir := t.TempDir()
	l, err := segment.NewLog(dir, segment.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := l.Append(&messages.Record{Value: val(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segmenttest.Segments(t, dir)
	if len(segs) != 1 {
		t.Fatalf("segments %+v, want one", segs)
	}
	torn := []byte{0, 0, 0, 40, 1, 2, 3, 4, 'x'} // a header promising 40 bytes, and 1
	f, err := os.OpenFile(segs[0].Store, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(torn); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	_, base := runWithMetrics(t, evnode.Options{Dir: dir})
	m := scrape(t, base)
	if got := metricValue(t, m, "evlog_recovered_segments_total"); got != 1 {
		t.Errorf("recovered segments %v, want 1", got)
	}
	if got := metricValue(t, m, "evlog_recovered_truncated_bytes_total"); got != float64(len(torn)) {
		t.Errorf("truncated bytes %v, want %d", got, len(torn))
	}
	if got := metricValue(t, m, "evlog_log_next_offset"); got != 3 {
		t.Errorf("next offset %v, want 3", got)
	}
}
