// Package raftlog is a service.Log replicated with hashicorp/raft across
// a cluster of 3 or 5 nodes: appends are acknowledged once a majority
// holds them, and the log goes on taking appends while a minority is
// down. docs/replication.md gives the design and its reasons; this is the
// contract.
//
// # Storage
//
// Each node keeps Raft's log and its term and vote in raft-wal
// (Config.Dir/raft/wal), which fsyncs every batch of entries it writes,
// and the state machine, the records readers get, in a segment.Log
// (Config.Dir/log) that is never synced per apply: raft-wal is the
// durable record, and the state machine knows how far it got from the
// header IndexHeader on the last record of each batch it applies (and,
// for a truncate, from the file Config.Dir/applied), so that the entries
// Raft replays at start change nothing. Snapshots (snapstore.go) store
// metadata only; opening one streams the live segment log's range in the
// segment/snapshot format; the state machine syncs the segment log before
// a snapshot is persisted, since Raft then forgets the entries below it.
//
// # Appends
//
// Append queues a request on the leader; the proposer, a goroutine of the
// Log, hands everything queued to Raft as one entry once one of
// Config.MaxInFlight slots is free and this node is not writing Raft's
// log (so that the entry holds what queued during that write), with the
// leader's clock as the entry's timestamp. The state machine decides each append as it applies
// the entry, on every node alike, from the replicated state: the dedup
// table, the next offset, the entry's timestamp (never below the last
// one). Offsets stay dense: only append entries take them. The Commit of
// an entry is delivered on every node, as it applies, with this node's
// appends in it when it proposed them; an append refused at apply (a
// *service.ConflictError) is delivered in a Commit of its own with that
// error. A record too large for a segment is refused by the leader
// before it is proposed (service.ErrTooLarge); a node whose segments
// cannot hold what the leader accepted fails rather than refuse it. A proposal Raft refuses (not the leader)
// gives its appends up with service.ErrUnavailable; one whose fate is
// unknown (leadership lost in flight) with an error that says so, since
// it may yet commit: a retry with the same id is safe.
//
// # Leadership
//
// Leader reports whether the node takes appends and truncates: after it
// won an election and a Raft barrier has applied everything committed
// before (so that decisions and reads see the whole log), until it loses.
// LeaderChanged lets the node register the write endpoints on the leader
// only. Every node serves reads of what it has applied: CommittedOffset
// is the applied offset, and CommitChanged wakes reads that wait.
//
// # Cluster
//
// Open bootstraps a new cluster from Config.Peers, the same list on every
// node, when the node has no Raft state, and ignores the list otherwise.
// A node whose directory was wiped comes back empty and is brought up to
// date by the leader, from Raft's log or by a snapshot install. A node
// with no peer list never bootstraps: it waits to be added. On the
// leader, AddMember adds a node as a non-voter, which the leader promotes
// to a voter once it has caught up (membership.go); RemoveMember and
// TransferLeadership change the members and the leader. Recover rewrites
// a stopped node's membership, offline, after the quorum is lost for
// good (recover.go). A node whose segment log holds damage other than a
// torn tail fails with ErrDamaged: Open refuses a damaged tail that
// recovery left in a sealed segment, and a scrub that reads every record
// back once per start, beside Raft, fails the Log on the first bad
// checksum, as a read or an install stream that meets one does.
//
// # Transport
//
// With Config.TLSCertFile, TLSKeyFile and TLSCAFile set, Raft's transport
// is mutual TLS: a node accepts and dials only peers holding a
// certificate from that CA, and a dialled peer's certificate must name
// the address dialled. Without them it is plain TCP, which Config
// validation refuses (ErrInsecureTransport) on a bind address that is not
// loopback, unless Config.AllowInsecureTransport is set.
//
// Close shuts Raft down and closes the transport, raft-wal and the
// segment log; every goroutine of the Log has returned when it does.
//
// # Source files
//
//	config.go      Config, its defaults and checks, ParsePeers
//	start.go       Open: the state machine, raft-wal, the transport, bootstrap; Close's release
//	transport.go   the Raft transport: plain TCP, or the mutual TLS stream layer
//	tls.go         the TLS configuration of the transport, from Config's PEM files
//	log.go         the Log type and the service.Log methods
//	propose.go     the group commit: queue, proposer, waiter, delivery of commits
//	storegate.go   the log store Raft writes through, which tells the proposer of writes under way
//	leader.go      leadership: barrier after winning, Leader, LeaderChanged
//	membership.go  add as non-voter, promotion once caught up, remove, transfer
//	recover.go     Recover: the offline rewrite of the membership after a lost quorum
//	entry.go       the entry format and the IndexHeader stamp
//	fsm.go         the state machine's Apply and Snapshot
//	open.go        opening the state machine: how far it got, from the log's tail
//	ids.go         the dedup table: its checkpoint, or rebuilt from the log's tail
//	files.go       the applied file, atomic writes, finishing an interrupted restore
//	snapshot.go    the snapshot state and its encoding, Persist
//	snapstore.go   the raft.SnapshotStore: metadata only, or a received stream
//	livestream.go  streaming a snapshot from the live log, and its length
//	restore.go     restoring from a stream into a staged log, swapped in whole
//	damage.go      refusing a damaged segment log at open, failing on damage found later
//	hclog.go       hclog.Logger on slog, for Raft and raft-wal
package raftlog
