package raftlog

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// loadTLS builds the mutual TLS configuration of the transport from the
// PEM files of Config: the same configuration serves the listener and
// the dialer, since every node is both a server and a client of Raft.
func loadTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: raft TLS certificate: %w", ErrConfig, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%w: raft TLS CA: %w", ErrConfig, err)
	}
	cas := x509.NewCertPool()
	if !cas.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: raft TLS CA: no PEM certificate in %s", ErrConfig, caFile)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		// Dialling, the peer's certificate must chain to the CA and name
		// the address dialled (crypto/tls takes the server name from it).
		RootCAs: cas,
		// Accepting, the peer must present a certificate that chains to
		// the same CA: without one the handshake fails before Raft reads
		// a byte.
		ClientCAs:  cas,
		ClientAuth: tls.RequireAndVerifyClientCert,
		// TLS 1.3 is negotiated whenever both ends have it, which is
		// always between two evlog nodes; 1.2 stays for nothing older.
		MinVersion: tls.VersionTLS12,
	}, nil
}
