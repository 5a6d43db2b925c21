// Package load drives a running evlog service over NATS and measures what
// it sustains: records/s, bytes/s, request latency, and errors by code.
//
// A run is Config.Clients connections, each keeping Config.Inflight
// requests unanswered in a Window, each request holding Config.Batch
// records of Config.Size bytes (appends) or asking for Config.Batch records
// (reads). It stops after Config.Duration, after asking for Config.Records
// records, or when its context is done, and then waits for the requests in
// flight to be answered or to time out.
//
//	d, err := load.New(cfg)
//	if err != nil { ... }
//	defer d.Close()
//	rep, err := d.Run(ctx)
//
// Latencies go into a histogram of buckets at most 1/16 wide, so that a run
// of any length takes the same memory; Report's percentiles are the tops
// of their buckets.
//
// Window, the request-reply engine under a run, is exported for callers
// that need their own loop around it, such as benchmarks that compare
// evlog with other responders.
//
// The package depends on nats.go and the wire types of package messages
// only: it is a client, and knows nothing of the server side.
package load
