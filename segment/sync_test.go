package segment

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evlog/evlog/segment/internal/frame"
)

func TestParseSyncMode(t *testing.T) {
	tests := []struct {
		s    string
		mode SyncMode
		err  bool
	}{
		{"always", SyncAlways, false},
		{"interval", SyncInterval, false},
		{"never", SyncNever, false},
		{"", 0, true},
		{"Always", 0, true},
		{"sometimes", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			m, err := ParseSyncMode(tt.s)
			if tt.err {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("parse %q: %v, want ErrConfig", tt.s, err)
				}
				return
			}
			if err != nil || m != tt.mode {
				t.Fatalf("parse %q: %v, %v", tt.s, m, err)
			}
			if m.String() != tt.s {
				t.Fatalf("%v.String() = %q, want %q", m, m.String(), tt.s)
			}
		})
	}
	if s := SyncMode(7).String(); s != "SyncMode(7)" {
		t.Fatalf("unknown mode prints as %q", s)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
	}{
		{"index below one entry", func(c *Config) { c.Segment.MaxIndexBytes = entryWidth - 1 }},
		{"store of a header only", func(c *Config) { c.Segment.MaxStoreBytes = frame.HeaderSize }},
		{"store too large", func(c *Config) { c.Segment.MaxStoreBytes = maxStoreBytes + 1 }},
		{"unknown sync mode", func(c *Config) { c.Sync.Mode = SyncNever + 1 }},
		{"negative sync mode", func(c *Config) { c.Sync.Mode = -1 }},
		{"negative interval", func(c *Config) { c.Sync.Interval = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			l, err := NewLog(t.TempDir(), c)
			if !errors.Is(err, ErrConfig) {
				if l != nil {
					l.Close()
				}
				t.Fatalf("NewLog: %v, want ErrConfig", err)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Segment.MaxStoreBytes != DefaultMaxStoreBytes || c.Segment.MaxIndexBytes != DefaultMaxIndexBytes ||
		c.Segment.InitialOffset != 0 || c.Sync.Mode != SyncAlways || c.Sync.Interval != DefaultSyncInterval || c.Logger == nil {
		t.Fatalf("default config %+v", c)
	}
	// The zero Config means the same.
	l := openLog(t, t.TempDir(), Config{})
	if l.config.Segment != c.Segment || l.config.Sync != c.Sync {
		t.Fatalf("zero config became %+v", l.config)
	}
}

// TestSyncModes appends, syncs, closes and reopens in each mode.
func TestSyncModes(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			c := testConfig(256, 0)
			c.Sync.Mode = mode
			c.Sync.Interval = time.Millisecond
			l := openLog(t, dir, c)
			want := appendN(t, l, 10)
			if err := l.Sync(); err != nil {
				t.Fatalf("sync: %v", err)
			}
			closeLog(t, l)
			l = openLog(t, dir, c)
			checkReadAll(t, l, want)
		})
	}
}

// syncedOffset is the offset below which the log has synced everything.
func syncedOffset(l *Log) uint64 {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	return l.synced
}

// TestSyncAlwaysIsSynced checks that an acknowledged append under
// SyncAlways is covered by a completed sync, and that SyncNever leaves it
// to later.
func TestSyncAlwaysIsSynced(t *testing.T) {
	tests := []struct {
		mode   SyncMode
		synced bool
	}{
		{SyncAlways, true},
		{SyncNever, false},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			c := testConfig(256, 0)
			c.Sync.Mode = tt.mode
			l := openLog(t, t.TempDir(), c)
			for _, r := range appendN(t, l, 5) {
				if got := syncedOffset(l) > r.Offset; got != tt.synced {
					t.Fatalf("offset %d synced: %v, want %v", r.Offset, got, tt.synced)
				}
			}
		})
	}
}

// TestSyncIntervalRunsAndStops waits for the background syncer to cover an
// append, then checks that Close stops it.
func TestSyncIntervalRunsAndStops(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := testConfig(256, 0)
	c.Sync.Mode = SyncInterval
	c.Sync.Interval = time.Millisecond
	l, err := NewLog(t.TempDir(), c)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for syncedOffset(l) < 3 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("background sync never covered the appends (synced %d)", syncedOffset(l))
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
