package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/evlog/evlog/service/client"
	"github.com/evlog/evlog/service/servicetest"
	// Aliased: the e2e harness has a type node.
	evnode "github.com/evlog/evlog/service/node"
)

// natsConf is a nats-server config for the embedded server: the service
// runs as "evlog", "admin" may do anything, and "writer" may append and
// read but not truncate.
const natsConf = `
listen: "127.0.0.1:4222" # overridden by the test
authorization {
  users = [
    {user: evlog,  password: evlogpass}
    {user: admin,  password: adminpass}
    {user: writer, password: writerpass, permissions: {publish: {deny: ["evlog.truncate"]}}}
  ]
}
`

// asyncErrors collects a connection's asynchronous errors, where the
// server's permission violations arrive.
type asyncErrors struct {
	mu   sync.Mutex
	errs []error
}

func (a *asyncErrors) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
}

func (a *asyncErrors) has(substr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, err := range a.errs {
		if strings.Contains(strings.ToLower(err.Error()), substr) {
			return true
		}
	}
	return false
}

func connectAs(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name(t.Name())}, opts...)...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestEmbeddedServerPermissions(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte(natsConf), 0o600); err != nil {
		t.Fatal(err)
	}
	o := evnode.Options{
		Dir:            t.TempDir(),
		NATSConfigFile: conf,
		NATSListen:     "127.0.0.1:-1",
		User:           "evlog",
		Password:       "evlogpass",
		// Small segments, so that the log rolls; they hold the
		// largest record only if that is small too.
		MaxStoreBytes:  2048,
		MaxRecordBytes: 1024,
	}
	r := runEvlog(t, o)

	var writerErrs asyncErrors
	writer := client.New(connectAs(t, r.url, nats.UserInfo("writer", "writerpass"), nats.ErrorHandler(writerErrs.handler)))
	admin := client.New(connectAs(t, r.url, nats.UserInfo("admin", "adminpass")))
	ctx := ctxT(t)
	for i := range 100 {
		if _, err := writer.Append(ctx, rec(val(i))); err != nil {
			t.Fatalf("writer append: %v", err)
		}
	}
	info, err := writer.Info(ctx)
	if err != nil || info.Segments < 3 {
		t.Fatalf("writer info: %+v %v", info, err)
	}

	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := writer.Truncate(short, 90); err == nil {
		t.Fatal("writer truncated without permission")
	}
	waitFor(t, "the permissions violation", func() bool { return writerErrs.has("permissions violation") })
	if info, err := admin.Info(ctx); err != nil || info.LowestOffset != 0 {
		t.Fatalf("after the denied truncate: %+v %v", info, err)
	}

	lowest, err := admin.Truncate(ctx, 90)
	if err != nil || lowest == 0 || lowest > 90 {
		t.Fatalf("admin truncate: lowest %d, %v", lowest, err)
	}

	// Anyone else is turned away by the server.
	if _, err := nats.Connect(r.url, nats.UserInfo("writer", "wrong")); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestEmbeddedServerNeedsServiceCredentials(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte(natsConf), 0o600); err != nil {
		t.Fatal(err)
	}
	err := evnode.Run(ctxT(t), evnode.Options{Dir: t.TempDir(), NATSConfigFile: conf, NATSListen: "127.0.0.1:-1"})
	if !errors.Is(err, evnode.ErrConfig) || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("run without the service's credentials: %v", err)
	}
}

func TestExternalNATSAuth(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "user.nk")
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	s, _ := kp.Seed()
	if err := os.WriteFile(seed, s, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		server     func(*server.Options)
		good, bad  evnode.Options
		clientOpts nats.Option
	}{
		{
			"token",
			func(o *server.Options) { o.Authorization = "s3cret" },
			evnode.Options{Token: "s3cret"}, evnode.Options{Token: "guess"},
			nats.Token("s3cret"),
		},
		{
			"user and password",
			func(o *server.Options) { o.Username, o.Password = "evlog", "pw" },
			evnode.Options{User: "evlog", Password: "pw"}, evnode.Options{User: "evlog", Password: "nope"},
			nats.UserInfo("evlog", "pw"),
		},
		{
			"nkey seed",
			func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} },
			evnode.Options{NKeyFile: seed}, evnode.Options{},
			nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := servicetest.NATS(t, tc.server)
			bad := tc.bad
			bad.Dir, bad.NATSURL = t.TempDir(), ns.ClientURL()
			if err := evnode.Run(ctxT(t), bad); !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("bad credentials: %v", err)
			}
			good := tc.good
			good.Dir, good.NATSURL = t.TempDir(), ns.ClientURL()
			r := runEvlog(t, good)
			opts := []nats.Option{}
			if tc.clientOpts != nil {
				opts = append(opts, tc.clientOpts)
			} else {
				opt, err := nats.NkeyOptionFromSeed(seed)
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, opt)
			}
			c := client.New(connectAs(t, r.url, opts...))
			if _, err := c.Append(ctxT(t), rec(val(0))); err != nil {
				t.Fatalf("append: %v", err)
			}
			if err := r.stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
		})
	}
}

// TestExternalNATSTLS joins a server that requires TLS with client
// certificates, both signed by a CA made here, and a password.
func TestExternalNATSTLS(t *testing.T) {
	pki := newTestPKI(t)
	ns := servicetest.NATS(t, func(o *server.Options) {
		o.TLS, o.TLSVerify = true, true
		o.TLSConfig = pki.serverTLS
		o.Username, o.Password = "evlog", "pw"
	})
	url := "tls://" + ns.Addr().String()

	base := evnode.Options{NATSURL: url, User: "evlog", Password: "pw", TLSCertFile: pki.clientCert, TLSKeyFile: pki.clientKey}
	noCA := base
	noCA.Dir = t.TempDir()
	if err := evnode.Run(ctxT(t), noCA); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v", err)
	}

	good := base
	good.Dir, good.TLSCAFile = t.TempDir(), pki.caFile
	r := runEvlog(t, good)
	c := client.New(connectAs(t, r.url,
		nats.RootCAs(pki.caFile), nats.ClientCert(pki.clientCert, pki.clientKey), nats.UserInfo("evlog", "pw")))
	rep, err := c.Append(ctxT(t), rec(val(0)), rec(val(1)))
	if err != nil || rep.LastOffset != 1 {
		t.Fatalf("append over TLS: %+v %v", rep, err)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, in files where the service reads them.
type testPKI struct {
	caFile, clientCert, clientKey string
	serverCert, serverKey         string
	nodeCert, nodeKey             string // for both ends of a connection: a Raft peer
	serverTLS                     *tls.Config
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "evlog test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, usage ...x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "evlog test"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  usage,
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}

	srvDER, srvKey := issue(2, x509.ExtKeyUsageServerAuth)
	cliDER, cliKey := issue(3, x509.ExtKeyUsageClientAuth)
	nodeDER, nodeKey := issue(4, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{
		caFile:     write("ca.pem", "CERTIFICATE", caDER),
		clientCert: write("client.pem", "CERTIFICATE", cliDER),
		clientKey:  write("client-key.pem", "EC PRIVATE KEY", keyDER(cliKey)),
		serverCert: write("server.pem", "CERTIFICATE", srvDER),
		serverKey:  write("server-key.pem", "EC PRIVATE KEY", keyDER(srvKey)),
		nodeCert:   write("node.pem", "CERTIFICATE", nodeDER),
		nodeKey:    write("node-key.pem", "EC PRIVATE KEY", keyDER(nodeKey)),
		serverTLS: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
	}
}
