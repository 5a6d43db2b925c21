// Package node assembles one evlog process: Run opens everything a node
// needs, serves until told to stop, and takes it all down again in order.
//
// A node is
//
//   - a NATS connection: to the deployment at Options.NATSURL, or
//     in-process to a nats-server that the node embeds and listens with on
//     Options.NATSListen (the default, so that one command runs everything);
//   - the log: a segment.Log in Options.Dir, whose reads report each
//     damaged record they find once: a warning in the log and the counter
//     evlog_damaged_records_total;
//   - the service (package service) answering on the connection for the
//     log, under Options.Prefix;
//   - optionally an HTTP listener on Options.MetricsAddr serving /metrics,
//     /healthz and /readyz;
//   - optionally a retention policy (Options.RetentionBytes,
//     Options.RetentionAge), applied by an actor of the run group when the
//     log rolls and on a timer (retention.go). Every removal the log
//     reports, by the policy or a truncate request, is published by the
//     service as an event on PREFIX.events.
//
// # Start-up and shutdown
//
// Options.Validate checks every option before anything is created or bound;
// its errors wrap ErrConfig and name the option by its evlog serve flag.
// Run then opens each resource once what it needs is up and defers its
// close: the HTTP listener, the embedded server, the connection, the log,
// the service. NATS comes before the log, so that a start that cannot
// listen or is turned away fails at once and creates nothing; a start that
// fails later removes a data directory it created. A failed start undoes
// only what it did, and a stop takes things down in the reverse order:
// readiness flips to "shutting down", the service stops taking requests and
// acknowledges what it wrote, the log is synced and closed, the connection
// drains, the embedded server shuts down, and the HTTP listener goes last. One run.Group holds only the
// loops that wait for the end: a signal or the caller's context, and the
// failure of the service, the connection, the embedded server or the HTTP
// listener, and the retention actor, which the group's end stops.
//
// # Exposure
//
// The embedded server is safe by default: on loopback it needs no
// authentication, but on any other address Validate refuses it unless it
// authenticates clients (users, a token, nkeys or an operator in
// Options.NATSConfigFile, or client certificates verified against
// Options.ServerTLSCAFile) or Options.AllowAnonymous says that anyone may
// connect, in which case Run warns and /readyz says "ready (anonymous
// access from the network allowed)" (exposure.go). The check covers the
// client port; other listeners a config file opens (websocket, MQTT, leaf
// nodes, cluster) are that file's to secure. Options.ServerTLSCertFile and
// ServerTLSKeyFile put TLS on the client port; the node's own connection
// is in-process and needs none.
//
// # Cluster
//
// With Options.NodeID the node is one member of a cluster (cluster.go):
// its log is a raftlog.Log in Options.Dir (Raft's state in raft/, the
// records in log/), bootstrapped from Options.Peers when it has no Raft
// state, behind the same service, which takes writes on the leader only
// (service.Config.Leadership) and shares reads with the other nodes in a
// queue group. The nodes share one NATS: Options.NATSURL, or their
// embedded servers routed together (Options.NATSClusterListen,
// Options.NATSRoutes). Retention is proposed by the leader as a
// replicated truncation. PREFIX.cluster.status is answered by any node
// (clusterstatus.go); /readyz waits for a known leader and for the node
// to have applied what it knows committed; /metrics adds Raft's role,
// term and indexes (raftmetrics.go). Membership changes are not
// supported yet.
package node
