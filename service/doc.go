// Package service serves a Log over NATS, so that a client in any language
// can append, read, follow and truncate records.
//
// # Shape
//
// The handlers only do protocol: decode, validate, call the Log, reply,
// and publish one Committed notification per committed range, in order.
// What stands behind them is the Log interface (log.go), whose contract
// says who calls what from which goroutine. Package service/local
// implements it on a segment.Log on the local disk, with the group commit
// and the sync policy, and imports this package for the vocabulary both
// sides share (Append, Commit, LogStats, the error sentinels). The process
// that assembles NATS, the log, the service and the HTTP listener is
// package service/node. A replicated log (hashicorp/raft: appends through Apply on
// the leader, commits from the FSM, also on followers) would be another
// package, such as service/raftlog, implementing Log and assembled by
// service/node; followers would serve reads in Config.ReadQueueGroup. A
// snapshot stream (the logical copy a new replica catches up from) belongs
// in a package of its own with no NATS in it, under segment/, and a
// retention policy (truncating by age or size) in segment, beside the log
// it acts on: neither goes into the handlers.
//
// # Subjects
//
// The service answers requests on five subjects under a prefix (default
// "evlog") and publishes on two more; the bodies are the msgpack maps of
// package messages:
//
//	evlog.append     AppendRequest   -> AppendReply
//	evlog.read       ReadRequest     -> ReadReply
//	evlog.truncate   TruncateRequest -> TruncateReply
//	evlog.info       (empty)         -> InfoReply
//	evlog.snapshot   SnapshotRequest -> a snapshot stream, in chunks
//	evlog.committed  Committed, published after each group of appends is durable
//	evlog.events     Event, published for each removal, recovery and snapshot
//
// Events (events.go) come from outside the handlers: New publishes one per
// segment that opening the log repaired, and the owner of the log calls
// Removed for each removal the log reports (segment.Config.OnRemove: a
// truncation or the retention policy) and PublishEvent for anything else,
// such as a snapshot.
//
// A request whose Content-Type header is application/json, or whose body
// starts with '{', is JSON (messages.RequestFormat) and is answered in
// JSON, with that header; an append keeps its format until the commit
// answers it, and a parked read until the poller does. A JSON read reply
// is sized for the growth the conversion may bring (messages.JSONGrowth),
// so that it still fits in a NATS message. Committed notifications are
// always msgpack.
//
// It is a nats.go/micro service, so $SRV.PING, $SRV.INFO and $SRV.STATS
// discovery works. Each log is a service of its own, named after its
// prefix (ServiceName: "evlog" for the default prefix, "evlog-orders_eu"
// for "orders.eu"), with the exact prefix in its "prefix" metadata, so
// that the stats of two logs are never added together. A failed request
// is answered with an empty body, whatever its format, and the headers
// Nats-Service-Error-Code (one of the messages.Code* numbers, in decimal)
// and Nats-Service-Error (a human-readable description).
//
// # One log per prefix
//
// micro puts endpoints in a queue group by default, which would let two
// evlog processes with separate disks split one prefix's appends between two
// logs, each then holding half a history with colliding offsets. The
// write endpoints (append, truncate) are therefore registered without a queue
// group, as are the read endpoints (read, info) unless Config.ReadQueueGroup
// names one; and New refuses
// to start (ErrPrefixInUse) when something already answers prefix.info. The
// check is a request, not a lock: two instances started at the same instant
// can both pass it, and then both answer every request. Give each log its own
// prefix.
//
// The nodes of a cluster (Config.Leadership, leadership.go) share one
// prefix on purpose: they skip the probe, serve the reads in
// Config.ReadQueueGroup, and only the leader registers the write
// endpoints, on a micro service of its own that it removes the moment it
// loses the leadership. A write that still reaches a node that is not the
// leader gets 503 with the leader's id in the description and in the
// header Evlog-Leader (messages.LeaderHeader), and a client retries.
// Only the leader publishes Committed notifications (announce.go), and a
// new leader continues from the last offset any node announced: around
// a leader change a range may be announced twice, but none is left out.
// Each node serves what it has applied; a read beyond that gets 503, not
// 404, since the node may only be behind the leader: the retry may reach
// another node, or this one once it has caught up.
//
// # Appends and group commit
//
// NATS hands a subscription's messages to its handler one at a time, so the
// append handler never waits for the disk. It validates the request and
// hands it to the Log, which answers later through the service's
// CommitFunc. The local log writes the records without syncing
// (segment.Log.AppendUnsynced) and queues the request for its committer,
// which takes everything queued, syncs once when the sync mode is
// segment.SyncAlways, makes the records visible to readers, and delivers
// one commit for the contiguous range; the service then publishes one
// Committed notification and replies to each request in order. Many
// clients thus share one fdatasync. When more than Config.MaxPendingAppends
// requests wait for the log, further appends get 503. Under the other sync
// modes there is nothing to share, and an append that finds nothing waiting
// is committed by its own handler, sparing a goroutine hand-over.
//
// A reply is an acknowledgement: its records survive a crash of the process
// and, under SyncAlways, of the machine. An error reply other than 400, 413
// or 503 means the outcome is unknown: the records may or may not be in the
// log. If the log fails (a failed sync, a partial write) the service stops
// accepting appends (500) and reports the failure through Failed and Err,
// because the kernel may have dropped the pages it could not write.
//
// # Reads
//
// Readers never see records beyond the committed offset, the offset after
// the last acknowledged record. A read below the lowest offset or beyond the
// committed offset gets 404. A read at exactly the committed offset returns
// no records, or, with wait_ms, waits up to that long (capped by
// Config.MaxWait) for records to commit, without holding up other requests.
//
// A read reply holds up to max_records records (default 1) and max_bytes
// bytes of records (default 1 MiB), and never more than the connection's
// maximum payload. max_bytes yields to the first record: a read that finds a
// record always returns it, unless it alone cannot fit in a NATS message,
// which gets 413. A reply whose records end early because the next one is
// damaged says so in the header Evlog-Damaged-Offset (DamagedOffsetHeader),
// so that damage does not pass for the end of a batch; the read of the
// damaged record itself gets 500.
//
// # Snapshots
//
// A snapshot request fixes its range when it arrives, [max(from, lowest),
// committed), and a goroutine of the service's own (at most
// Config.MaxSnapshots of them; more get 503) streams the snapshot of
// package segment/snapshot to the request's reply subject in chunks of at
// most the connection's maximum payload less headroom. It reads the log
// with ReadRawBatch a batch at a time, holding no lock across the stream,
// so appends go on, and records committed meanwhile are not in it. The
// requester acknowledges each chunk by replying to it; no more than
// snapshotWindow chunks are ever unacknowledged, so a slow requester slows
// the stream and never makes the service buffer the log. A requester
// silent for Config.SnapshotAckTimeout is given up: the goroutine ends and
// evlog_snapshots_abandoned_total counts it. The last chunk carries
// messages.SnapshotEndHeader; a failure mid-stream is a chunk with the
// error headers below. The README spells the exchange out byte for byte.
//
// # Shutdown
//
// Stop stops the micro service, answers 503 to requests that still arrive,
// ends the snapshots that stream with a 503 chunk,
// lets the log commit and the service acknowledge what it holds
// (Log.Detach), answers parked reads with the records that have committed
// for them, or with 503 when none have, so that a follower reconnects
// rather than mistake the stop for the end of its wait, and returns.
// It does not close the log or the connection: their owner does, after
// Stop. Package service/node wires all of this, with an embedded
// nats-server when no NATS URL is given, for the evlog binary.
package service
