package main

import (
	"flag"
	"fmt"

	"github.com/nats-io/nats.go"
)

// natsAuthFlags are the options that authenticate a connection to an
// external NATS server and secure it with TLS. `evlog serve` (for
// --nats-url) and every client command define them with these names, so
// that one set of EVLOG_NATS_* variables configures both.
type natsAuthFlags struct {
	creds, nkey, user, password, token *string
	tlsCA, tlsCert, tlsKey             *string
}

// addNATSAuthFlags defines the options on fs; whose names the connection
// they configure in the help text, e.g. "the service's connection".
func addNATSAuthFlags(fs *flag.FlagSet, whose string) natsAuthFlags {
	return natsAuthFlags{
		creds:    fs.String("nats-creds", "", "NATS credentials `file` of "+whose),
		nkey:     fs.String("nats-nkey", "", "NATS nkey seed `file` of "+whose),
		user:     fs.String("nats-user", "", "NATS user of "+whose),
		password: fs.String("nats-password", "", "NATS password of --nats-user"),
		token:    fs.String("nats-token", "", "NATS token of "+whose),
		tlsCA:    fs.String("nats-tls-ca", "", "CA certificate `file` to verify the --nats-url server"),
		tlsCert:  fs.String("nats-tls-cert", "", "client certificate `file` for --nats-url"),
		tlsKey:   fs.String("nats-tls-key", "", "client key `file` for --nats-url"),
	}
}

// validate refuses combinations that cannot work, as usage errors naming
// the options: two ways of authenticating at once, a password without a
// user, a certificate without its key.
func (f natsAuthFlags) validate() error {
	var ways []string
	for _, c := range []struct {
		name string
		set  bool
	}{
		{"--nats-creds", *f.creds != ""},
		{"--nats-nkey", *f.nkey != ""},
		{"--nats-token", *f.token != ""},
		{"--nats-user", *f.user != "" || *f.password != ""},
	} {
		if c.set {
			ways = append(ways, c.name)
		}
	}
	switch {
	case len(ways) > 1:
		return usageError{fmt.Errorf("%s and %s conflict: give one way to authenticate to NATS", ways[0], ways[1])}
	case *f.password != "" && *f.user == "":
		return usageError{fmt.Errorf("--nats-password needs --nats-user")}
	case (*f.tlsCert == "") != (*f.tlsKey == ""):
		return usageError{fmt.Errorf("--nats-tls-cert and --nats-tls-key go together")}
	}
	return nil
}

// options returns the nats.go options the flags ask for; call validate
// first.
func (f natsAuthFlags) options() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case *f.creds != "":
		opts = append(opts, nats.UserCredentials(*f.creds))
	case *f.nkey != "":
		opt, err := nats.NkeyOptionFromSeed(*f.nkey)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey: %w", err)
		}
		opts = append(opts, opt)
	case *f.token != "":
		opts = append(opts, nats.Token(*f.token))
	case *f.user != "":
		opts = append(opts, nats.UserInfo(*f.user, *f.password))
	}
	if *f.tlsCA != "" {
		opts = append(opts, nats.RootCAs(*f.tlsCA))
	}
	if *f.tlsCert != "" {
		opts = append(opts, nats.ClientCert(*f.tlsCert, *f.tlsKey))
	}
	return opts, nil
}
