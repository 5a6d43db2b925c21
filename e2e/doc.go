// Package e2e tests evlog as its users meet it: the service on an embedded
// nats-server reached over loopback TCP, the real evlog binary started,
// signalled and killed as a child process, and the survival campaigns
// (crashes, corruption, malformed requests, a full disk, overload). Its
// benchmarks set evlog beside the core-NATS ceiling and JetStream in one
// run; docs/benchmarks.md explains them. It holds no code outside tests.
package e2e
