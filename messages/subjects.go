package messages

import (
	"fmt"
	"strings"
)

// DefaultPrefix is the subject prefix the service uses unless told otherwise.
const DefaultPrefix = "evlog"

// Subjects are the NATS subjects of one log.
type Subjects struct {
	// Append takes an AppendRequest and answers an AppendReply.
	Append string
	// Read takes a ReadRequest and answers a ReadReply.
	Read string
	// Truncate takes a TruncateRequest and answers a TruncateReply.
	Truncate string
	// Info takes an empty body and answers an InfoReply.
	Info string
	// Snapshot takes a SnapshotRequest and streams a snapshot in chunks
	// to the request's reply subject.
	Snapshot string
	// Committed carries a Committed notification per durable append.
	Committed string
	// Events carries an Event for each removal, recovery and snapshot.
	Events string
	// ClusterStatus takes an empty body and answers a ClusterStatus, on
	// a cluster of nodes only.
	ClusterStatus string
}

// NewSubjects returns the subjects under prefix, for example "evlog.append"
// for the prefix "evlog".
func NewSubjects(prefix string) Subjects {
	return Subjects{
		Append:    prefix + ".append",
		Read:      prefix + ".read",
		Truncate:  prefix + ".truncate",
		Info:      prefix + ".info",
		Snapshot:  prefix + ".snapshot",
		Committed: prefix + ".committed",
		Events:    prefix + ".events",

		ClusterStatus: prefix + ".cluster.status",
	}
}

// ValidatePrefix reports whether prefix is a usable subject prefix: one or
// more dot-separated tokens without wildcards or white space.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return fmt.Errorf("subject prefix is empty")
	}
	for tok := range strings.SplitSeq(prefix, ".") {
		if tok == "" {
			return fmt.Errorf("subject prefix %q has an empty token", prefix)
		}
		if strings.ContainsAny(tok, "*> \t\r\n") {
			return fmt.Errorf("subject prefix %q contains a wildcard or white space", prefix)
		}
	}
	return nil
}
