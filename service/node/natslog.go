package node

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
)

// natsLogger sends an embedded nats-server's log to slog, so that the
// binary has one log stream in one format. The server reports a failure
// to start, such as a port in use, only to its logger, as a fatal
// message; fatal, if set, gets each one, so that the start can fail with
// it.
type natsLogger struct {
	l     *slog.Logger
	fatal func(msg string)
}

var _ server.Logger = natsLogger{}

func (n natsLogger) log(level slog.Level, format string, v []any) {
	if n.l.Enabled(context.Background(), level) {
		n.l.Log(context.Background(), level, fmt.Sprintf(format, v...))
	}
}

func (n natsLogger) Noticef(format string, v ...any) { n.log(slog.LevelInfo, format, v) }
func (n natsLogger) Warnf(format string, v ...any)   { n.log(slog.LevelWarn, format, v) }
func (n natsLogger) Errorf(format string, v ...any)  { n.log(slog.LevelError, format, v) }
func (n natsLogger) Debugf(format string, v ...any)  { n.log(slog.LevelDebug, format, v) }
func (n natsLogger) Tracef(format string, v ...any)  { n.log(slog.LevelDebug-4, format, v) }

func (n natsLogger) Fatalf(format string, v ...any) {
	n.log(slog.LevelError, format, v)
	if n.fatal != nil {
		n.fatal(fmt.Sprintf(format, v...))
	}
}
