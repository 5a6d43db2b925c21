// Package servicetest is support for tests that talk to evlog over NATS:
// an embedded nats-server on a free loopback port that stops when the test
// ends, and a buffer that a logger writes while the test reads it. It
// imports no evlog package, so that the tests of every package, service
// and service/node included, can use it.
//
// The server is started as nats-server's own tests do (port -1, no logs,
// no signal handlers) and only ever listens on 127.0.0.1.
package servicetest
