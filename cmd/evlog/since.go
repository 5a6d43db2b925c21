package main

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// sinceWords explains what --since takes; read and tail mean the same by
// it.
const sinceWords = `--since starts at the first record appended at or after a time instead:
an RFC 3339 time (2026-11-24T10:00:00Z) or a duration back from now (10m,
1h30m). It conflicts with --offset and --from. A time after the newest
record starts at the end of the log.`

// parseSince reads a --since value as a time, or as a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return time.Time{}, usageError{fmt.Errorf("--since: want an RFC 3339 time or a duration, got %q", s)}
	case d < 0:
		return time.Time{}, usageError{fmt.Errorf("--since: a duration back from now cannot be negative, got %q", s)}
	}
	return now.Add(-d), nil
}

// sinceFlag returns the time --since asks for, or nil when it is not
// given. Given with the offset flag named other, it is a usage error.
func sinceFlag(fs *flag.FlagSet, since string, other string) (*time.Time, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["since"] {
		return nil, nil
	}
	if set[other] {
		return nil, usageError{errors.New("--since conflicts with --" + other + ": give one")}
	}
	t, err := parseSince(since, time.Now())
	if err != nil {
		return nil, err
	}
	return &t, nil
}
