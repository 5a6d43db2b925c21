package node

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/raftlog"
)

// memberTimeout bounds the wait for each member's answer about itself
// when a node gathers the cluster status.
const memberTimeout = time.Second

// clusterStatus answers the cluster status requests of a node of a
// cluster (Subjects.ClusterStatus, in the read queue group, and
// messages.ClusterMemberSubject for this node alone). It owns the two
// subscriptions; stop ends them.
type clusterStatus struct {
	nc     *nats.Conn
	prefix string
	log    *raftlog.Log
	logger *slog.Logger
	subs   []*nats.Subscription
}

// startClusterStatus subscribes the responders.
func startClusterStatus(nc *nats.Conn, prefix, queue string, l *raftlog.Log, logger *slog.Logger) (*clusterStatus, error) {
	c := &clusterStatus{nc: nc, prefix: prefix, log: l, logger: logger}
	st, err := nc.QueueSubscribe(messages.NewSubjects(prefix).ClusterStatus, queue, c.handleStatus)
	if err != nil {
		return nil, fmt.Errorf("subscribe to the cluster status: %w", err)
	}
	c.subs = append(c.subs, st)
	self, err := l.Status()
	if err != nil {
		return nil, errors.Join(err, c.stop())
	}
	sub, err := nc.Subscribe(messages.ClusterMemberSubject(prefix, self.NodeID), c.handleMember)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("subscribe to the member status: %w", err), c.stop())
	}
	c.subs = append(c.subs, sub)
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		return nil, errors.Join(fmt.Errorf("flush the status subscriptions: %w", err), c.stop())
	}
	return c, nil
}

// stop ends the subscriptions.
func (c *clusterStatus) stop() error {
	var errs []error
	for _, s := range c.subs {
		if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, err)
		}
	}
	c.subs = nil
	return errors.Join(errs...)
}

// handleMember answers about this node.
func (c *clusterStatus) handleMember(msg *nats.Msg) {
	st, err := c.log.Status()
	if err != nil {
		c.logger.Warn("member status", "error", err)
	}
	m := memberOf(st)
	c.respond(msg, &m)
}

// handleStatus gathers every member's answer about itself.
func (c *clusterStatus) handleStatus(msg *nats.Msg) {
	st, err := c.log.Status()
	if err != nil {
		c.logger.Warn("cluster status", "error", err)
	}
	out := messages.ClusterStatus{Leader: st.LeaderID, Members: make([]messages.ClusterMember, len(st.Members))}
	var wg sync.WaitGroup
	for i, m := range st.Members {
		if m.ID == st.NodeID {
			out.Members[i] = memberOf(st)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out.Members[i] = c.askMember(m)
		}()
	}
	wg.Wait()
	setLag(&out)
	c.respond(msg, &out)
}

// askMember asks member m about itself; a member that does not answer
// is unreachable.
func (c *clusterStatus) askMember(m raftlog.Member) messages.ClusterMember {
	unreachable := messages.ClusterMember{ID: m.ID, Address: m.Address, Voter: m.Voter, State: messages.StateUnreachable}
	reply, err := c.nc.Request(messages.ClusterMemberSubject(c.prefix, m.ID), nil, memberTimeout)
	if err != nil {
		unreachable.Error = err.Error()
		return unreachable
	}
	var got messages.ClusterMember
	if err := messages.Unmarshal(reply.Data, &got); err != nil {
		unreachable.Error = "answer does not decode: " + err.Error()
		return unreachable
	}
	// Raft's configuration, as the answering node has it, names the
	// address and the vote.
	got.ID, got.Address, got.Voter = m.ID, m.Address, m.Voter
	return got
}

// setLag sets each member's lag behind the leader's applied offset.
func setLag(s *messages.ClusterStatus) {
	var leader *messages.ClusterMember
	for i := range s.Members {
		if s.Members[i].ID == s.Leader && s.Members[i].State != messages.StateUnreachable {
			leader = &s.Members[i]
		}
	}
	if leader == nil {
		return
	}
	for i := range s.Members {
		m := &s.Members[i]
		if m.State != messages.StateUnreachable && leader.AppliedOffset > m.AppliedOffset {
			m.Lag = leader.AppliedOffset - m.AppliedOffset
		}
	}
}

// memberOf describes this node from its status.
func memberOf(st raftlog.Status) messages.ClusterMember {
	m := messages.ClusterMember{
		ID: st.NodeID, State: roleOf(st.State), Voter: true,
		Term: st.Term, LastIndex: st.LastIndex, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		AppliedOffset: st.AppliedOffset,
	}
	for _, mem := range st.Members {
		if mem.ID == st.NodeID {
			m.Address, m.Voter = mem.Address, mem.Voter
		}
	}
	if !m.Voter && m.State == messages.StateFollower {
		m.State = messages.StateNonvoter
	}
	return m
}

// respond answers msg with v, in the format of the request.
func (c *clusterStatus) respond(msg *nats.Msg, v any) {
	f := messages.RequestFormat(msg.Header.Get("Content-Type"), msg.Data)
	body, err := messages.Marshal(v)
	if err == nil {
		body, err = f.Reply(body)
	}
	if err != nil {
		c.logger.Error("encode cluster status", "error", err)
		return
	}
	reply := &nats.Msg{Subject: msg.Reply, Data: body}
	if f == messages.FormatJSON {
		reply.Header = nats.Header{"Content-Type": []string{messages.ContentTypeJSON}}
	}
	if err := c.nc.PublishMsg(reply); err != nil {
		c.logger.Debug("cluster status reply", "error", err)
	}
}
