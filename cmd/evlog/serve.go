package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func serveCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog serve", flag.ContinueOnError)
	var (
		dir          = fs.String("dir", "./data", "data directory of the log")
		prefix       = fs.String("prefix", messages.DefaultPrefix, "subject prefix: the service answers PREFIX.append, PREFIX.read, ...")
		natsURL      = fs.String("nats-url", "", "join this NATS deployment instead of starting an embedded server")
		natsListen   = fs.String("nats-listen", "127.0.0.1:4222", "address of the embedded NATS server (when --nats-url is empty)")
		syncMode     = fs.String("sync", "always", "when appends are synced to disk: always (acknowledged means durable), interval, never")
		syncInterval = fs.Duration("sync-interval", segment.DefaultSyncInterval, "sync period for --sync interval")
		storeBytes   = fs.Uint64("max-store-bytes", segment.DefaultMaxStoreBytes, "segment store size at which the log rolls to a new segment")
		indexBytes   = fs.Uint64("max-index-bytes", segment.DefaultMaxIndexBytes, "segment index size (12 bytes a record) at which the log rolls")
		creds        = fs.String("nats-creds", "", "NATS credentials file, for --nats-url")
		nkey         = fs.String("nats-nkey", "", "NATS nkey seed file, for --nats-url")
		user         = fs.String("nats-user", "", "NATS user, for --nats-url")
		password     = fs.String("nats-password", "", "NATS password, for --nats-url")
		token        = fs.String("nats-token", "", "NATS token, for --nats-url")
		tlsCA        = fs.String("nats-tls-ca", "", "CA certificate file to verify the NATS server, for --nats-url")
		tlsCert      = fs.String("nats-tls-cert", "", "client certificate file, for --nats-url")
		tlsKey       = fs.String("nats-tls-key", "", "client key file, for --nats-url")
		logLevel     = fs.String("log-level", "info", "debug, info, warn or error")
		logJSON      = fs.Bool("log-json", false, "log JSON lines instead of text")
	)
	return &ffcli.Command{
		Name:       "serve",
		ShortUsage: "evlog serve [flags]",
		ShortHelp:  "run the evlog service",
		LongHelp: "Run the evlog service. Without --nats-url it starts an embedded NATS\n" +
			"server on --nats-listen, so this one command runs everything.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("serve takes no arguments, got %q", args)}
			}
			mode, err := segment.ParseSyncMode(*syncMode)
			if err != nil {
				return usageError{fmt.Errorf("--sync: %w", err)}
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level: %w", err)}
			}
			if err := messages.ValidatePrefix(*prefix); err != nil {
				return usageError{fmt.Errorf("--prefix: %w", err)}
			}
			if *syncInterval <= 0 {
				return usageError{fmt.Errorf("--sync-interval must be positive, got %v", *syncInterval)}
			}
			hopts := &slog.HandlerOptions{Level: level}
			var logger *slog.Logger
			if *logJSON {
				logger = slog.New(slog.NewJSONHandler(stderr, hopts))
			} else {
				logger = slog.New(slog.NewTextHandler(stderr, hopts))
			}
			o := service.Options{
				Dir:           *dir,
				Prefix:        *prefix,
				NATSURL:       *natsURL,
				NATSListen:    *natsListen,
				CredsFile:     *creds,
				NKeyFile:      *nkey,
				User:          *user,
				Password:      *password,
				Token:         *token,
				TLSCAFile:     *tlsCA,
				TLSCertFile:   *tlsCert,
				TLSKeyFile:    *tlsKey,
				SyncMode:      mode,
				SyncInterval:  *syncInterval,
				MaxStoreBytes: *storeBytes,
				MaxIndexBytes: *indexBytes,
				Logger:        logger,
			}
			return service.Run(ctx, o)
		},
	}
}
