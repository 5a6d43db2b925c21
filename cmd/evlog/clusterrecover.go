package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/evlog/evlog/service/raftlog"
)

const clusterRecoverHelp = `Recover a cluster that has lost its quorum for good (a majority of its
voters is gone and will not come back), offline, on the directory of a
stopped surviving node: its Raft configuration is rewritten to --peers,
which names this node alone (ID=HOST:PORT, its own Raft address; any
other list is refused). Then start the node again, without --peers.

The procedure: stop every survivor; recover the one whose Raft log is
longest (highest LAST INDEX in the last "evlog cluster status"); start
it, and it leads a cluster of one;
wipe the other survivors' directories, start them without --peers and
add each with "evlog cluster add".

This is a last resort and it loses data: every entry in the node's Raft
log is applied, committed or not, and an append that was acknowledged
by a majority that did not include this node is gone for good.`

// clusterRecoverCommand is evlog cluster recover, which works on a
// directory and talks to no one.
func clusterRecoverCommand(stdout io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog cluster recover", flag.ContinueOnError)
	dir := fs.String("dir", "", "the stopped node's data directory (its --dir)")
	id := fs.String("node-id", "", "the node's id (its --node-id)")
	peersFlag := fs.String("peers", "", "the member from now on: this node alone, ID=HOST:PORT")
	return &ffcli.Command{
		Name:       "recover",
		ShortUsage: "evlog cluster recover --dir DIR --node-id ID --peers ID=HOST:PORT",
		ShortHelp:  "rewrite a stopped node's membership after the quorum is lost (offline)",
		LongHelp:   clusterRecoverHelp,
		FlagSet:    fs,
		Options:    []ff.Option{ff.WithEnvVarPrefix(envPrefix)},
		Exec: func(_ context.Context, args []string) error {
			if err := noArgs("cluster recover", args); err != nil {
				return err
			}
			if *dir == "" || *id == "" || *peersFlag == "" {
				return usageError{errors.New("cluster recover: --dir, --node-id and --peers are required")}
			}
			peers, err := raftlog.ParsePeers(*peersFlag)
			if err != nil {
				return usageError{fmt.Errorf("cluster recover: --peers: %w", err)}
			}
			if err := raftlog.Recover(raftlog.Config{NodeID: *id, Dir: *dir}, peers); err != nil {
				if errors.Is(err, raftlog.ErrConfig) {
					return usageError{fmt.Errorf("cluster recover: %w", err)}
				}
				return fmt.Errorf("cluster recover: %w", err)
			}
			_, err = fmt.Fprintf(stdout, "recovered %s in %s as a cluster of %d; start it without --peers\n", *id, *dir, len(peers))
			return err
		},
	}
}
