package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/client"
)

const clusterAddHelp = `Add node ID, whose Raft transport listens at --raft-addr, to the cluster.
Start the node first with --node-id ID --raft-addr HOST:PORT and no
--peers: a node without a peer list does not make a cluster of its own,
it waits to be added. The leader adds it as a non-voter, sends it the
log, and promotes it to a voter once it has caught up; "evlog cluster
status" shows it as nonvoter until then. Adding a member again at the
same address changes nothing.`

const clusterRemoveHelp = `Remove node ID from the cluster. It may be the leader: it leaves once
the change has committed, and the others elect a leader. A removed
node's Raft stops; stop its process, and wipe its directory before it
joins again with "evlog cluster add". Keep an odd number of voters, and
never remove so many that the rest are not a majority of the old set.`

const clusterTransferHelp = `Hand the leadership to voter --to, or to the most up-to-date voter
without it, for example before stopping the leader's host.`

// clusterChangeCommands are the subcommands of evlog cluster that change
// the membership, over NATS, through the leader.
func clusterChangeCommands(stdout io.Writer) []*ffcli.Command {
	return []*ffcli.Command{
		clusterChangeCommand(stdout, "add", "--id ID --raft-addr HOST:PORT", "add a node, as a non-voter promoted once caught up", clusterAddHelp,
			func(fs *flag.FlagSet) func(context.Context, *client.Client) (messages.ClusterChangeReply, error) {
				id := fs.String("id", "", "the new node's id (its --node-id)")
				addr := fs.String("raft-addr", "", "the host:port the other nodes reach the new node's Raft at")
				return func(ctx context.Context, c *client.Client) (messages.ClusterChangeReply, error) {
					if *id == "" {
						return messages.ClusterChangeReply{}, usageError{errors.New("cluster add: --id is required")}
					}
					if _, _, err := net.SplitHostPort(*addr); err != nil {
						return messages.ClusterChangeReply{}, usageError{fmt.Errorf("cluster add: --raft-addr %q: give HOST:PORT", *addr)}
					}
					return c.ClusterAdd(ctx, *id, *addr)
				}
			}),
		clusterChangeCommand(stdout, "remove", "--id ID", "remove a node, the leader included", clusterRemoveHelp,
			func(fs *flag.FlagSet) func(context.Context, *client.Client) (messages.ClusterChangeReply, error) {
				id := fs.String("id", "", "the id of the node to remove")
				return func(ctx context.Context, c *client.Client) (messages.ClusterChangeReply, error) {
					if *id == "" {
						return messages.ClusterChangeReply{}, usageError{errors.New("cluster remove: --id is required")}
					}
					return c.ClusterRemove(ctx, *id)
				}
			}),
		clusterChangeCommand(stdout, "transfer-leader", "[--to ID]", "hand the leadership to another voter", clusterTransferHelp,
			func(fs *flag.FlagSet) func(context.Context, *client.Client) (messages.ClusterChangeReply, error) {
				to := fs.String("to", "", "the voter to lead (default: the most up-to-date one)")
				return func(ctx context.Context, c *client.Client) (messages.ClusterChangeReply, error) {
					return c.ClusterTransfer(ctx, *to)
				}
			}),
	}
}

// clusterChangeCommand is one membership change: flags adds its own
// flags and returns the change to make.
func clusterChangeCommand(stdout io.Writer, name, usage, short, long string,
	flags func(*flag.FlagSet) func(context.Context, *client.Client) (messages.ClusterChangeReply, error)) *ffcli.Command {
	fs := flag.NewFlagSet("evlog cluster "+name, flag.ContinueOnError)
	cf := addClientFlags(fs)
	wait := fs.Duration("wait", 30*time.Second, "how long to keep trying while no leader answers")
	change := flags(fs)
	return &ffcli.Command{
		Name:       name,
		ShortUsage: "evlog cluster " + name + " " + usage + " [flags]",
		ShortHelp:  short,
		LongHelp:   long,
		FlagSet:    fs,
		Options:    []ff.Option{ff.WithEnvVarPrefix(envPrefix)},
		Exec: withClient("cluster "+name, cf, func(ctx context.Context, c *client.Client) error {
			rctx, cancel := context.WithTimeout(ctx, *wait)
			defer cancel()
			reply, err := change(rctx, c)
			var u usageError
			switch {
			case errors.As(err, &u):
				return err
			case errors.Is(err, client.ErrNotCluster):
				return fmt.Errorf("cluster %s: this is a single node, not a cluster: %w", name, err)
			case err != nil:
				return fmt.Errorf("cluster %s: %w", name, err)
			}
			if *cf.json {
				return json.NewEncoder(stdout).Encode(reply)
			}
			return printClusterChange(stdout, reply)
		}),
	}
}

// printClusterChange prints the members after a change.
func printClusterChange(w io.Writer, r messages.ClusterChangeReply) error {
	leader := r.Leader
	if leader == "" {
		leader = "(none known: election under way)"
	}
	if _, err := fmt.Fprintf(w, "leader  %s\n\n", leader); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tVOTER")
	for _, m := range r.Members {
		fmt.Fprintf(tw, "%s\t%s\t%v\n", m.ID, m.Address, m.Voter)
	}
	return tw.Flush()
}

// clusterSubcommands lists the subcommands, for the usage error.
func clusterSubcommands(cmds []*ffcli.Command) string {
	var names []string
	for _, c := range cmds {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}
