package raftlog

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestParsePeers(t *testing.T) {
	got, err := ParsePeers("a=10.0.0.1:7000, b=[::1]:7000,c=host:7000")
	if err != nil || len(got) != 3 || got[1] != (Peer{ID: "b", Address: "[::1]:7000"}) {
		t.Fatalf("ParsePeers: %+v, %v", got, err)
	}
	for _, bad := range []string{"a", "=h:1", "a=host", "a=h:1,b"} {
		if _, err := ParsePeers(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ParsePeers(%q): %v, want ErrConfig", bad, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{NodeID: "a", Dir: "d", BindAddr: "127.0.0.1:0", Peers: []Peer{{"a", "h:1"}, {"b", "h:2"}}}
	if err := ok.withDefaults().validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*Config){
		"no node id":         func(c *Config) { c.NodeID = "" },
		"no dir":             func(c *Config) { c.Dir = "" },
		"bad bind":           func(c *Config) { c.BindAddr = "nowhere" },
		"self not in peers":  func(c *Config) { c.NodeID = "z" },
		"peer listed twice":  func(c *Config) { c.Peers = append(c.Peers, Peer{"a", "h:3"}) },
		"lease > heartbeat":  func(c *Config) { c.LeaderLeaseTimeout = 2 * c.HeartbeatTimeout },
		"negative in flight": func(c *Config) { c.MaxInFlight = -1 },
	}
	for name, tweak := range cases {
		c := ok.withDefaults()
		tweak(&c)
		if err := c.validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	if _, err := Open(Config{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Open of the zero Config: %v", err)
	}
}

// TestHCLogAdapter: Raft's logs reach the slog logger with their
// component and arguments, and levels below the adapter's are dropped.
func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHCLog(l, "raft").Named("wal").With("k", "v")
	h.Info("hello", "n", 1)
	h.Debug("dropped")
	h.SetLevel(hclog.Debug)
	h.Debug("kept")
	h.StandardLogger(nil).Print("std line")
	out := buf.String()
	for _, want := range []string{"msg=hello component=raft.wal k=v n=1", "msg=kept", `msg="std line"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "dropped") {
		t.Errorf("a debug log passed the info level:\n%s", out)
	}
}

// TestConfigTransport: plain TCP is refused on an address other hosts
// can reach, unless AllowInsecureTransport says so; the TLS files go
// together.
func TestConfigTransport(t *testing.T) {
	tls := func(c *Config) { c.TLSCertFile, c.TLSKeyFile, c.TLSCAFile = "c.pem", "k.pem", "ca.pem" }
	cases := []struct {
		name  string
		bind  string
		tweak func(*Config)
		want  error // nil: valid
	}{
		{"loopback v4", "127.0.0.1:7000", nil, nil},
		{"loopback v4 range", "127.8.9.10:7000", nil, nil},
		{"loopback v6", "[::1]:7000", nil, nil},
		{"localhost", "LocalHost:7000", nil, nil},
		{"wildcard v4", "0.0.0.0:7000", nil, ErrInsecureTransport},
		{"wildcard v6", "[::]:7000", nil, ErrInsecureTransport},
		{"empty host", ":7000", nil, ErrInsecureTransport},
		{"private address", "10.0.0.1:7000", nil, ErrInsecureTransport},
		{"host name", "evlog-0.internal:7000", nil, ErrInsecureTransport},
		{"allowed insecure", "0.0.0.0:7000", func(c *Config) { c.AllowInsecureTransport = true }, nil},
		{"TLS", "10.0.0.1:7000", tls, nil},
		{"TLS and allowed insecure", "10.0.0.1:7000", func(c *Config) { tls(c); c.AllowInsecureTransport = true }, nil},
		{"TLS without CA", "127.0.0.1:7000", func(c *Config) { tls(c); c.TLSCAFile = "" }, ErrConfig},
		{"TLS without key, allowed insecure", "10.0.0.1:7000", func(c *Config) { tls(c); c.TLSKeyFile = ""; c.AllowInsecureTransport = true }, ErrConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{NodeID: "a", Dir: "d", BindAddr: tc.bind}.withDefaults()
			if tc.tweak != nil {
				tc.tweak(&c)
			}
			err := c.validate()
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("validate: %v, want valid", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("validate: %v, want %v", err, tc.want)
			case tc.want == ErrInsecureTransport && !errors.Is(err, ErrConfig):
				t.Fatalf("validate: %v, want it to be an ErrConfig too", err)
			case tc.want == ErrConfig && errors.Is(err, ErrInsecureTransport):
				t.Fatalf("validate: %v: a partial TLS setting is not a missing one", err)
			}
		})
	}
}
