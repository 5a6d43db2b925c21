package service

import (
	"errors"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Prefix != messages.DefaultPrefix || c.MaxRecordBytes != DefaultMaxRecordBytes || c.MaxBatchRecords != 10000 ||
		c.MaxPendingAppends != 4096 || c.MaxReadBytes != 8<<20 || c.MaxWait != 30*time.Second || c.Logger == nil {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"wildcard prefix", func(c *Config) { c.Prefix = "evlog.*" }},
		{"empty token", func(c *Config) { c.Prefix = "a..b" }},
		{"negative record bytes", func(c *Config) { c.MaxRecordBytes = -1 }},
		{"negative batch", func(c *Config) { c.MaxBatchRecords = -1 }},
		{"read bytes below record bytes", func(c *Config) { c.MaxReadBytes = c.MaxRecordBytes - 1 }},
		{"negative pending", func(c *Config) { c.MaxPendingAppends = -1 }},
		{"negative parked", func(c *Config) { c.MaxParkedReads = -1 }},
		{"negative wait", func(c *Config) { c.MaxWait = -time.Second }},
		{"negative probe", func(c *Config) { c.ProbeTimeout = -time.Second }},
		{"queue group with a wildcard", func(c *Config) { c.ReadQueueGroup = "readers.*" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			if err := c.validate(); !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestNewRejectsNil(t *testing.T) {
	if _, err := New(nil, nil, Config{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("got %v", err)
	}
}
