package service

import "errors"

// Errors returned by New, Run and Err. Match them with errors.Is: the
// returned errors wrap them with detail.
var (
	// ErrConfig is returned by New and Run for an invalid Config or
	// Options.
	ErrConfig = errors.New("invalid config")
	// ErrPrefixInUse is returned by New when something already answers
	// the prefix's info subject, most likely another evlog instance that
	// serves another log under the same subjects.
	ErrPrefixInUse = errors.New("subject prefix already served")
	// ErrNoHeaders is returned by New when the NATS server does not
	// support headers, which carry the service's error codes.
	ErrNoHeaders = errors.New("nats server does not support headers")
	// ErrSyncFailed is returned by Err after the log failed to sync: the
	// service then refuses appends, since the kernel may have dropped
	// the pages it could not write.
	ErrSyncFailed = errors.New("log sync failed")
)
