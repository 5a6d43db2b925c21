package load

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

func connect(t *testing.T, ns *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// fakeLog answers appends under prefix with consecutive offsets and reads
// with the records asked for, empty values, as evlog would shape them. A
// silent fakeLog takes requests and answers none.
func fakeLog(t *testing.T, ns *server.Server, prefix string, silent bool) {
	t.Helper()
	nc := connect(t, ns)
	subjects := messages.NewSubjects(prefix)
	var next atomic.Uint64
	_, err := nc.Subscribe(subjects.Append, func(m *nats.Msg) {
		var req messages.AppendRequest
		if silent || messages.Unmarshal(m.Data, &req) != nil {
			return
		}
		n := uint64(len(req.Records))
		last := next.Add(n)
		respond(t, m, &messages.AppendReply{FirstOffset: last - n, LastOffset: last - 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = nc.Subscribe(subjects.Read, func(m *nats.Msg) {
		var req messages.ReadRequest
		if silent || messages.Unmarshal(m.Data, &req) != nil {
			return
		}
		recs := make([]messages.Record, req.MaxRecords)
		for i := range recs {
			recs[i] = messages.Record{Offset: req.Offset + uint64(i), Value: []byte("v")}
		}
		respond(t, m, &messages.ReadReply{Records: recs, NextOffset: req.Offset + req.MaxRecords})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func respond(t *testing.T, m *nats.Msg, v any) {
	body, err := messages.Marshal(v)
	if err == nil {
		err = m.Respond(body)
	}
	if err != nil {
		t.Errorf("respond: %v", err)
	}
}

// config is a valid load of ns's fake log under prefix.
func config(ns *server.Server, prefix string) Config {
	return Config{
		Mode: Append, Clients: 2, Inflight: 4, Batch: 10, Size: 8,
		Duration: time.Second, Timeout: time.Second,
		Subjects: messages.NewSubjects(prefix),
		Dial:     func(int) (*nats.Conn, error) { return nats.Connect(ns.ClientURL()) },
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Mode: Read, Clients: 1, Inflight: 1, Batch: 1, Size: 1, Duration: time.Second, Timeout: time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		mod   func(*Config)
	}{
		{"mode", func(c *Config) { c.Mode = "write" }},
		{"clients", func(c *Config) { c.Clients = 0 }},
		{"inflight", func(c *Config) { c.Inflight = MaxInflight + 1 }},
		{"batch", func(c *Config) { c.Batch = -1 }},
		{"size", func(c *Config) { c.Size = 0 }},
		{"records", func(c *Config) { c.Records = -1 }},
		{"duration", func(c *Config) { c.Duration = 0 }},
		{"timeout", func(c *Config) { c.Timeout = -time.Second }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.field) {
				t.Fatalf("got %v, want an error about %s", err, tc.field)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"bad shape", func(c *Config) { c.Clients = 0 }, "clients"},
		{"no dial", func(c *Config) { c.Dial = nil }, "Dial"},
		{"no subjects", func(c *Config) { c.Subjects = messages.Subjects{} }, "Subjects"},
		{"offsets reversed", func(c *Config) { c.LowestOffset = 5 }, "below"},
		{"dial fails", func(c *Config) {
			c.Dial = func(i int) (*nats.Conn, error) {
				if i == 1 {
					return nil, errors.New("no second connection")
				}
				return nats.Connect(ns.ClientURL())
			}
		}, "no second connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config(ns, "fake")
			tc.mod(&c)
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	c := config(ns, "fake")
	c.Mode = Read
	if _, err := New(c); !errors.Is(err, ErrNothingToRead) {
		t.Fatalf("read of an empty log: %v", err)
	}
}

// run drives cfg to its end and closes the driver.
func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := d.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Run(t.Context()); err == nil {
		t.Error("a second Run succeeded")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestRunRecords(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	fakeLog(t, ns, "fake", false)
	for _, mode := range []Mode{Append, Read, Mixed} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := config(ns, "fake")
			cfg.Mode, cfg.Records, cfg.NextOffset = mode, 1000, 50
			rep := run(t, cfg)
			if len(rep.Errors) > 0 {
				t.Fatalf("errors %v", rep.Errors)
			}
			// 1000 records in batches of 10 is 100 requests, each
			// answered in full by the fake log.
			if rep.Requests != 100 || rep.Records != 1000 || rep.Appended+rep.Read != rep.Records {
				t.Fatalf("report %+v", rep)
			}
			if (mode == Append) != (rep.Read == 0) || (mode == Read) != (rep.Appended == 0) {
				t.Fatalf("%s run appended %d, read %d", mode, rep.Appended, rep.Read)
			}
			if mode != Read && rep.Bytes != rep.Appended*8+rep.Read {
				t.Fatalf("bytes %d for %d appended and %d read", rep.Bytes, rep.Appended, rep.Read)
			}
		})
	}
}

func TestRunTimeouts(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	fakeLog(t, ns, "silent", true)
	cfg := config(ns, "silent")
	cfg.Duration, cfg.Timeout = 50*time.Millisecond, 20*time.Millisecond
	start := time.Now()
	rep := run(t, cfg)
	if rep.Requests != 0 || rep.Errors["timeout"] < int64(cfg.Clients*cfg.Inflight) || len(rep.Errors) != 1 {
		t.Fatalf("report %+v", rep)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a run of 50ms with 20ms timeouts took %v", took)
	}
}

// A run ends when its context does, and reports what it measured.
func TestRunCancelled(t *testing.T) {
	ns := servicetest.NATS(t, nil)
	fakeLog(t, ns, "fake", false)
	cfg := config(ns, "fake")
	cfg.Duration = time.Hour
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	rep, err := d.Run(ctx)
	if err != nil || rep.Requests == 0 || rep.Seconds > 10 {
		t.Fatalf("report %+v, err %v", rep, err)
	}
	if p := d.Progress(); p.Records != rep.Records {
		t.Fatalf("progress %+v after a run of %d records", p, rep.Records)
	}
}
