package node

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/segmenttest"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/servicetest"
)

// TestDamageReported: a damaged record that reads run into is logged once,
// with its segment and offset, and counted once in
// evlog_damaged_records_total, however often it is read; the read replies
// name it.
func TestDamageReported(t *testing.T) {
	dir := t.TempDir()
	seg, err := segment.NewLog(dir, segment.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a", "b", "c", "d"} {
		if _, err := seg.Append(&messages.Record{Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	segmenttest.FlipRecordBit(t, segmenttest.Segments(t, dir)[0].Store, 2)

	var logs servicetest.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ready, metricsAddr := make(chan string, 1), make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Dir: dir, NATSListen: "127.0.0.1:-1", MetricsAddr: "127.0.0.1:0",
			Logger:       slog.New(slog.NewJSONHandler(&logs, nil)),
			Ready:        func(url string) { ready <- url },
			MetricsReady: func(addr string) { metricsAddr <- addr },
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	body, _ := messages.Marshal(&messages.ReadRequest{Offset: 0, MaxRecords: 10})
	for range 3 {
		msg, err := nc.Request("evlog.read", body, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := msg.Header.Get(service.DamagedOffsetHeader); got != "2" {
			t.Fatalf("read from 0: %s %q, want 2", service.DamagedOffsetHeader, got)
		}
	}
	if got := damageWarnings(t, logs.String()); len(got) != 1 || got[0].Segment != 0 || got[0].Offset != 2 {
		t.Fatalf("damage warnings %+v, want one for segment 0 offset 2", got)
	}
	if got := scrape(t, <-metricsAddr); !strings.Contains(got, "\nevlog_damaged_records_total 1\n") {
		t.Fatalf("metrics lack evlog_damaged_records_total 1:\n%s", got)
	}
}

type damageWarning struct {
	Segment, Offset uint64
}

// damageWarnings returns the damage warnings among the JSON log lines.
func damageWarnings(t *testing.T, logs string) []damageWarning {
	t.Helper()
	var got []damageWarning
	for line := range strings.Lines(logs) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := rec["msg"].(string); rec["level"] != "WARN" || !strings.HasPrefix(msg, "damaged record") {
			continue
		}
		seg, ok1 := rec["segment"].(float64)
		off, ok2 := rec["offset"].(float64)
		if !ok1 || !ok2 {
			t.Fatalf("damage warning without segment and offset: %s", line)
		}
		got = append(got, damageWarning{uint64(seg), uint64(off)})
	}
	return got
}

// scrape returns the metrics the HTTP listener at addr serves.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
