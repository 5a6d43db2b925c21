package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// notifyContext is cancelled by SIGINT or SIGTERM.
func notifyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}
