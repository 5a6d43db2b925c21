package messages

// A cluster of evlog nodes (evlog serve --node-id) answers two more
// requests under the prefix, both on the read side, that any node
// answers:
//
//	PREFIX.cluster.status       (empty) -> ClusterStatus, gathered by the node that answers
//	PREFIX.cluster.member.ID    (empty) -> ClusterMember, answered by node ID about itself
//
// Their bodies are msgpack, or JSON when the request is (RequestFormat).

// LeaderHeader is the header of a 503 reply from a node of a cluster that
// is not the leader: the id of the leader as that node knows it, empty
// when it knows none. The description says it too.
const LeaderHeader = "Evlog-Leader"

// RaftIndexHeader is the record header in which a replicated log stores
// the Raft index and timestamp of the batch that ends with the record.
// Like IDHeader and BatchRecordsHeader it is the log's to write.
const RaftIndexHeader = "Evlog-Raft-Index"

// ReservedHeaders are the record headers that the log writes and a
// client may not set on a record it appends.
var ReservedHeaders = [...]string{IDHeader, BatchRecordsHeader, RaftIndexHeader}

// Member states in ClusterMember.State.
const (
	StateLeader    = "leader"
	StateFollower  = "follower"
	StateCandidate = "candidate"
	StateNonvoter  = "nonvoter"
	// StateUnreachable is a member that did not answer the node that
	// gathered the status.
	StateUnreachable = "unreachable"
)

// ClusterStatus describes a cluster as the node that answered sees it.
type ClusterStatus struct {
	// Leader is the id of the leader, empty when there is none.
	Leader string `msgpack:"leader" json:"leader"`
	// Members is every member of Raft's configuration, in its order.
	Members []ClusterMember `msgpack:"members" json:"members"`
}

// ClusterMember describes one member of a cluster.
type ClusterMember struct {
	ID      string `msgpack:"id" json:"id"`
	Address string `msgpack:"address" json:"address"`
	// State is one of the State constants.
	State string `msgpack:"state" json:"state"`
	Voter bool   `msgpack:"voter" json:"voter"`
	// Term is the member's current Raft term.
	Term uint64 `msgpack:"term" json:"term"`
	// LastIndex is the index of the last entry in the member's Raft log,
	// CommitIndex the highest it knows committed, AppliedIndex the
	// highest its log has applied.
	LastIndex    uint64 `msgpack:"last_index" json:"last_index"`
	CommitIndex  uint64 `msgpack:"commit_index" json:"commit_index"`
	AppliedIndex uint64 `msgpack:"applied_index" json:"applied_index"`
	// AppliedOffset is the offset after the last record the member
	// serves to readers.
	AppliedOffset uint64 `msgpack:"applied_offset" json:"applied_offset"`
	// Lag is how many records the member is behind the leader's
	// AppliedOffset (0 for the leader, and when no leader answered).
	Lag uint64 `msgpack:"lag" json:"lag"`
	// Error says why an unreachable member is.
	Error string `msgpack:"error,omitempty" json:"error,omitempty"`
}

// ClusterMemberSubject is the subject on which member id answers about
// itself.
func ClusterMemberSubject(prefix, id string) string { return prefix + ".cluster.member." + id }
