package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/client"
)

const clusterHelp = `Show a cluster of evlog nodes (evlog serve --node-id): the leader, and
each member with its Raft address, state (leader, follower, candidate,
nonvoter, or unreachable when it did not answer), whether it votes, the
last index of its Raft log, the offset it has applied and how many
records it lags behind the leader. Any node answers, after asking each
member about itself. With --json it prints
{"leader": "ID", "members": [{"id": ..., "address": ..., "state": ...,
"voter": ..., "last_index": ..., "applied_offset": ..., "lag": ...}]}.`

// clusterCommand is `evlog cluster`, whose one subcommand is status. The
// client flags are shared by both, so that they may come before or after
// "status".
func clusterCommand(stdout io.Writer) *ffcli.Command {
	sfs := flag.NewFlagSet("evlog cluster status", flag.ContinueOnError)
	cf := addClientFlags(sfs)
	sfs.SetOutput(io.Discard)
	fs := flag.NewFlagSet("evlog cluster", flag.ContinueOnError)
	sfs.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	status := &ffcli.Command{
		Name:       "status",
		ShortUsage: "evlog cluster status [flags]",
		ShortHelp:  "show the leader and every member of the cluster",
		LongHelp:   clusterHelp,
		FlagSet:    sfs,
		Options:    []ff.Option{ff.WithEnvVarPrefix(envPrefix)},
		Exec: withClient("cluster status", cf, func(ctx context.Context, c *client.Client) error {
			rctx, cancel := cf.ctx(ctx)
			defer cancel()
			st, err := c.ClusterStatus(rctx)
			if err != nil {
				return fmt.Errorf("cluster status (is this a cluster? a single node does not answer it): %w", err)
			}
			if *cf.json {
				return json.NewEncoder(stdout).Encode(st)
			}
			return printClusterStatus(stdout, st)
		}),
	}
	return &ffcli.Command{
		Name:        "cluster",
		ShortUsage:  "evlog cluster status [flags]",
		ShortHelp:   "show the state of a cluster of nodes",
		LongHelp:    clusterHelp,
		FlagSet:     fs,
		Subcommands: []*ffcli.Command{status},
		Exec: func(context.Context, []string) error {
			return usageError{fmt.Errorf("cluster: give a subcommand: status")}
		},
	}
}

// printClusterStatus prints st as a table.
func printClusterStatus(w io.Writer, st messages.ClusterStatus) error {
	leader := st.Leader
	if leader == "" {
		leader = "(none: election under way)"
	}
	if _, err := fmt.Fprintf(w, "leader  %s\n\n", leader); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tSTATE\tVOTER\tTERM\tLAST INDEX\tAPPLIED INDEX\tAPPLIED OFFSET\tLAG")
	for _, m := range st.Members {
		if m.State == messages.StateUnreachable {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t-\t-\t-\t-\t-\n", m.ID, m.Address, m.State, m.Voter)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%d\t%d\t%d\t%d\n",
			m.ID, m.Address, m.State, m.Voter, m.Term, m.LastIndex, m.AppliedIndex, m.AppliedOffset, m.Lag)
	}
	return tw.Flush()
}
