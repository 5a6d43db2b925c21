package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evlog/evlog/service/raftlog"
)

// raftMetrics exposes a cluster node's Raft state, read at each scrape:
//
//	evlog_raft_role{role}          1 for the node's role (leader, follower, candidate, shutdown), 0 for the others
//	evlog_raft_term                the current term
//	evlog_raft_last_index          the last entry in the node's Raft log
//	evlog_raft_commit_index        the highest entry the node knows committed
//	evlog_raft_applied_index       the highest entry its log has applied
//	evlog_raft_applied_offset      the offset after the last record applied
//	evlog_raft_elections_total     elections since the node opened its log: each one raises the term
type raftMetrics struct {
	log *raftlog.Log
	// firstTerm is the term when the node opened its log: elections are
	// counted from it.
	firstTerm uint64

	role, term, last, commit, applied, offset, elections *prometheus.Desc
}

// raftRoles are the values of the role label, in Raft's state order.
var raftRoles = [...]string{"follower", "candidate", "leader", "shutdown"}

func newRaftMetrics(l *raftlog.Log) *raftMetrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("evlog_raft_"+name, help, labels, nil)
	}
	st, _ := l.Status()
	return &raftMetrics{
		log:       l,
		firstTerm: st.Term,
		role:      d("role", "1 for this node's Raft role, 0 for the others.", "role"),
		term:      d("term", "The current Raft term."),
		last:      d("last_index", "Index of the last entry in this node's Raft log."),
		commit:    d("commit_index", "Highest Raft index this node knows committed."),
		applied:   d("applied_index", "Highest Raft index this node's log has applied."),
		offset:    d("applied_offset", "Offset after the last record this node's log has applied."),
		elections: d("elections_total", "Elections this node has seen since it started (term changes)."),
	}
}

// Describe implements prometheus.Collector.
func (m *raftMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.role, m.term, m.last, m.commit, m.applied, m.offset, m.elections} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *raftMetrics) Collect(ch chan<- prometheus.Metric) {
	st, _ := m.log.Status() // the indexes are set even when the configuration is not
	role := roleOf(st.State)
	for _, r := range raftRoles {
		v := 0.0
		if r == role {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(m.role, prometheus.GaugeValue, v, r)
	}
	gauge := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	gauge(m.term, st.Term)
	gauge(m.last, st.LastIndex)
	gauge(m.commit, st.CommitIndex)
	gauge(m.applied, st.AppliedIndex)
	gauge(m.offset, st.AppliedOffset)
	ch <- prometheus.MustNewConstMetric(m.elections, prometheus.CounterValue, float64(st.Term-min(st.Term, m.firstTerm)))
}

// roleOf maps a raft.RaftState name to a role label.
func roleOf(state string) string {
	switch state {
	case "Leader":
		return "leader"
	case "Candidate":
		return "candidate"
	case "Shutdown":
		return "shutdown"
	}
	return "follower"
}
