package service

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/micro"

	"github.com/evlog/evlog/messages"
)

// Membership changes the members of a cluster, on its leader;
// raftlog.Log implements it. Each method returns once the change is
// made, and refuses on a node that is not the leader with an error
// wrapping ErrUnavailable, for a member that is not in the cluster with
// ErrUnknownMember, and for a request that cannot be made with
// ErrBadRequest.
type Membership interface {
	// AddMember adds node id, reached at the Raft address addr, as a
	// non-voter, promoted to a voter once it has caught up.
	AddMember(id, addr string) error
	// RemoveMember removes node id, which may be this node.
	RemoveMember(id string) error
	// TransferLeadership hands the leadership to voter to, or to the
	// most up-to-date voter when to is empty.
	TransferLeadership(to string) error
	// Members returns the members of the latest configuration, with
	// their ID, Address and Voter set.
	Members() ([]messages.ClusterMember, error)
}

// addMembership adds the membership endpoints (Subjects.ClusterAdd,
// ClusterRemove, ClusterTransfer) to ms, with no queue group: on a
// cluster they are on the leader's write service only; a single node
// answers them 501.
func (s *Service) addMembership(ms micro.Service) error {
	g := ms.AddGroup(s.cfg.Prefix+".cluster", micro.WithGroupQueueGroupDisabled())
	for _, e := range []struct {
		subject string
		h       micro.HandlerFunc
	}{{"add", s.handleClusterAdd}, {"remove", s.handleClusterRemove}, {"transfer", s.handleClusterTransfer}} {
		name := "cluster-" + e.subject
		if err := g.AddEndpoint(name, e.h, micro.WithEndpointSubject(e.subject), micro.WithEndpointQueueGroupDisabled()); err != nil {
			return fmt.Errorf("add endpoint %s: %w", name, err)
		}
	}
	return nil
}

func (s *Service) handleClusterAdd(req micro.Request) {
	var r messages.ClusterAddRequest
	s.changeMembership(req, &r, func(m Membership) error { return m.AddMember(r.ID, r.Address) })
}

func (s *Service) handleClusterRemove(req micro.Request) {
	var r messages.ClusterRemoveRequest
	s.changeMembership(req, &r, func(m Membership) error { return m.RemoveMember(r.ID) })
}

func (s *Service) handleClusterTransfer(req micro.Request) {
	var r messages.ClusterTransferRequest
	s.changeMembership(req, &r, func(m Membership) error { return m.TransferLeadership(r.To) })
}

// changeMembership decodes the request into body and, on the leader,
// makes the change, then answers the members after it.
func (s *Service) changeMembership(req micro.Request, body any, change func(Membership) error) {
	if !s.enter() {
		s.reject(req, errStopping)
		return
	}
	defer s.inflight.Done()
	ld, m := s.cfg.Leadership, s.cfg.Membership
	if ld == nil || m == nil {
		s.reject(req, fmt.Errorf("%w: this is a single node (evlog serve without --node-id), which has no members to change", ErrNotCluster))
		return
	}
	f := requestFormat(req)
	if f == messages.FormatJSON {
		s.reject(req, fmt.Errorf("%w: membership requests are msgpack only", ErrBadRequest))
		return
	}
	if data := req.Data(); len(data) > 0 {
		if err := messages.Unmarshal(data, body); err != nil {
			s.reject(req, fmt.Errorf("%w: decode %s: %v", ErrBadRequest, req.Subject(), err))
			return
		}
	}
	if !ld.Leader() {
		s.reject(req, notLeader(ld))
		return
	}
	if err := change(m); err != nil {
		if errors.Is(err, ErrUnavailable) && !ld.Leader() {
			err = errors.Join(notLeader(ld), err)
		}
		s.reject(req, err)
		return
	}
	reply := messages.ClusterChangeReply{}
	_, reply.Leader = ld.LeaderAddr()
	members, err := m.Members()
	if err != nil {
		// The change is made; a leader that removed itself may have
		// stopped its Raft already.
		s.logger.Info("members after a change", "error", err)
	}
	reply.Members = members
	s.logger.Info("membership changed", "subject", req.Subject(), "leader", reply.Leader, "members", len(members))
	s.respondIn(req, f, "cluster change reply", &reply)
}
