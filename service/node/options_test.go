package node

import (
	"errors"
	"strings"
	"testing"
)

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"metrics addr without port", Options{MetricsAddr: "localhost"}, "--metrics-addr"},
		{"metrics port not a number", Options{MetricsAddr: ":http"}, "--metrics-addr"},
		{"metrics port too large", Options{MetricsAddr: ":65536"}, "--metrics-addr"},
		{"listen without port", Options{NATSListen: "foo"}, "--nats-listen"},
		{"listen port too large", Options{NATSListen: "127.0.0.1:99999"}, "--nats-listen"},
		{"listen with url", Options{NATSURL: "nats://x", NATSListen: ":4222"}, "--nats-listen is for the embedded server"},
		{"nats config with url", Options{NATSURL: "nats://x", NATSConfigFile: "f"}, "--nats-config is for the embedded server"},
		{"tls without url", Options{TLSCAFile: "ca.pem"}, "--nats-tls-ca needs --nats-url"},
		{"token and user", Options{NATSURL: "nats://x", Token: "t", User: "u"}, "--nats-token and --nats-user conflict"},
		{"creds and nkey", Options{NATSURL: "nats://x", CredsFile: "c", NKeyFile: "n"}, "--nats-creds and --nats-nkey conflict"},
		{"password without user", Options{Password: "p"}, "--nats-password needs --nats-user"},
		{"cert without key", Options{NATSURL: "nats://x", TLSCertFile: "c"}, "--nats-tls-cert and --nats-tls-key go together"},
		{"server tls with url", Options{NATSURL: "nats://x", ServerTLSCertFile: "c", ServerTLSKeyFile: "k"}, "--nats-server-tls-cert, --nats-server-tls-key and --nats-server-tls-ca are for the embedded server"},
		{"allow anonymous with url", Options{NATSURL: "nats://x", AllowAnonymous: true}, "--allow-anonymous is for the embedded server"},
		{"server cert without key", Options{ServerTLSCertFile: "c"}, "--nats-server-tls-cert and --nats-server-tls-key go together"},
		{"server ca without cert", Options{ServerTLSCAFile: "ca"}, "--nats-server-tls-ca needs --nats-server-tls-cert"},
		{"server cert missing", Options{ServerTLSCertFile: "/nonexistent/c.pem", ServerTLSKeyFile: "/nonexistent/k.pem"}, "--nats-server-tls-cert"},
		{"nats config missing", Options{NATSConfigFile: "/nonexistent/nats.conf"}, "--nats-config"},
		{"bad prefix", Options{Prefix: "a.*"}, "--prefix"},
		{"store below record", Options{MaxRecordBytes: 5000, MaxStoreBytes: 5007}, "--max-store-bytes 5007 is too small"},
		{"store below default record", Options{MaxStoreBytes: 1000}, "--max-store-bytes 1000 is too small"},
		// Delegated to segment.Config.
		{"negative sync interval", Options{SyncInterval: -1}, "--sync-interval"},
		{"index too small", Options{MaxIndexBytes: 11}, "--max-index-bytes 11"},
		{"store too large", Options{MaxStoreBytes: 1 << 41}, "--max-store-bytes"},
		// Delegated to service.Config.
		{"read below record", Options{MaxReadBytes: 100, MaxRecordBytes: 200}, "--max-read-bytes 100 is below --max-record-bytes 200"},
		{"huge pending", Options{MaxPendingAppends: 1 << 30}, "--max-pending-appends"},
		{"negative parked", Options{MaxParkedReads: -1}, "--max-parked-reads"},
		{"negative wait", Options{MaxWait: -1}, "--max-wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrConfig naming %s", err, tc.want)
			}
		})
	}
	for name, o := range map[string]Options{
		"zero":     {},
		"external": {NATSURL: "tls://x", User: "u", Password: "p", TLSCAFile: "ca", TLSCertFile: "c", TLSKeyFile: "k", MetricsAddr: "127.0.0.1:0"},
		"any port": {NATSListen: "127.0.0.1:-1", MaxRecordBytes: 100, MaxStoreBytes: 108},
	} {
		if err := o.Validate(); err != nil {
			t.Errorf("valid options %s: %v", name, err)
		}
	}
}
