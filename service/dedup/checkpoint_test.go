package dedup

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testKey = CheckpointKey{Log: [16]byte{1, 2, 3}, Low: 5, Next: 900, Last: 0xfeed}

// exactly accepts the checkpoint of key alone.
func exactly(key CheckpointKey) func(CheckpointKey) error {
	return func(k CheckpointKey) error {
		if k != key {
			return fmt.Errorf("taken of %+v, not of %+v", k, key)
		}
		return nil
	}
}

// driveTable applies ops random adds, lookups and truncations to tb from
// rng, timestamps starting at ts, and returns the timestamp reached; with
// other non-nil, it applies the same to other and fails the test on the
// first decision on which the two differ.
func driveTable(t *testing.T, rng *rand.Rand, tb, other *Table, ts int64, ops, ids int, firstOp int) int64 {
	t.Helper()
	window := int64(tb.Window())
	for op := firstOp; op < firstOp+ops; op++ {
		ts += rng.Int64N(window / 5)
		if rng.IntN(50) == 0 {
			ts -= rng.Int64N(window)
		}
		id := fmt.Sprint(rng.IntN(ids))
		switch r := rng.IntN(100); {
		case r == 0:
			below := uint64(op - rng.IntN(50))
			tb.ForgetBelow(below)
			if other != nil {
				other.ForgetBelow(below)
			}
		case r < 50:
			got, gok := tb.Lookup(id, ts)
			if other != nil {
				want, wok := other.Lookup(id, ts)
				if got != want || gok != wok {
					t.Fatalf("op %d: Lookup(%s, %d) = %+v %v, the original table %+v %v", op, id, ts, got, gok, want, wok)
				}
			}
		default:
			s := Span{First: uint64(op), Last: uint64(op + rng.IntN(3))}
			tb.Add(id, s, ts)
			if other != nil {
				other.Add(id, s, ts)
			}
		}
		if other != nil && tb.Len() != other.Len() {
			t.Fatalf("op %d: Len %d, the original table %d", op, tb.Len(), other.Len())
		}
	}
	return ts
}

// TestCheckpointDecidesAsTheTable saves tables driven by random adds,
// lookups and truncations, loads each checkpoint, and drives the original
// and the loaded table on with the same operations: every decision must
// be the same, expiry and eviction included.
func TestCheckpointDecidesAsTheTable(t *testing.T) {
	for _, tc := range []struct{ maxIDs, ids, ops int }{
		{3, 10, 2000},
		{100, 300, 5000},
		{2000, 5000, 20_000},
		{5000, 3000, 20_000},
	} {
		t.Run(fmt.Sprintf("max=%d/ids=%d", tc.maxIDs, tc.ids), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.maxIDs), uint64(tc.ids)))
			cfg := Config{Window: 50 * time.Millisecond, MaxIDs: tc.maxIDs}
			orig := newTable(t, cfg)
			ts := driveTable(t, rng, orig, nil, int64(1000*sec), tc.ops, tc.ids, 0)
			if orig.Len() == 0 {
				t.Fatal("the table remembers nothing to save")
			}
			path := filepath.Join(t.TempDir(), "ids")
			if err := orig.SaveCheckpoint(path, testKey); err != nil {
				t.Fatal(err)
			}
			loaded, err := LoadCheckpoint(path, cfg, exactly(testKey))
			if err != nil {
				t.Fatal(err)
			}
			if loaded.Len() != orig.Len() {
				t.Fatalf("loaded %d ids, saved %d", loaded.Len(), orig.Len())
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("the checkpoint is gone after loading: %v", err)
			}
			// Every id at once, while the saved ones are remembered,
			// then on as the ids expire and come back.
			hits := 0
			for i := range tc.ids {
				id := fmt.Sprint(i)
				got, gok := loaded.Lookup(id, ts)
				want, wok := orig.Lookup(id, ts)
				if got != want || gok != wok {
					t.Fatalf("Lookup(%s) = %+v %v, the original table %+v %v", id, got, gok, want, wok)
				}
				if gok {
					hits++
				}
			}
			if hits == 0 {
				t.Fatal("no lookup found a saved id")
			}
			driveTable(t, rng, loaded, orig, ts, tc.ops, tc.ids, tc.ops)
		})
	}
}

// savedCheckpoint returns the checkpoint of a small table.
func savedCheckpoint(t *testing.T, cfg Config) []byte {
	t.Helper()
	tb := newTable(t, cfg)
	for i := range 5 {
		tb.Add(strings.Repeat("x", i+1), Span{First: uint64(10 * i), Last: uint64(10*i + 2)}, int64(i+1)*sec)
	}
	return tb.AppendCheckpoint(nil, testKey)
}

// TestCheckpointRefusesDamage: a checkpoint with any byte changed, or cut
// at any length, is refused with ErrCheckpoint and removed.
func TestCheckpointRefusesDamage(t *testing.T) {
	cfg := Config{Window: time.Minute, MaxIDs: 10}
	good := savedCheckpoint(t, cfg)
	path := filepath.Join(t.TempDir(), "ids")
	load := func(b []byte) error {
		t.Helper()
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadCheckpoint(path, cfg, exactly(testKey))
		// An unusable checkpoint is read once; a good one is kept.
		if _, serr := os.Stat(path); errors.Is(serr, os.ErrNotExist) != (err != nil) {
			t.Fatalf("load: %v; then the file: %v", err, serr)
		}
		return err
	}
	if err := load(good); err != nil {
		t.Fatalf("the intact checkpoint: %v", err)
	}
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		if err := load(b); !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("byte %d changed: %v, want ErrCheckpoint", i, err)
		}
	}
	for n := range len(good) {
		if err := load(good[:n]); !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("cut at %d: %v, want ErrCheckpoint", n, err)
		}
	}
	if err := load(append(bytes.Clone(good), make([]byte, 10*(checkpointEntry+200))...)); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("longer than any checkpoint of the config: %v, want ErrCheckpoint", err)
	}
}

// TestCheckpointOfAnotherStateOrConfig: a checkpoint is used only for the
// log state and the config it was taken with. A table of a longer window
// or a larger bound would remember ids the saved one had forgotten.
func TestCheckpointOfAnotherStateOrConfig(t *testing.T) {
	cfg := Config{Window: time.Minute, MaxIDs: 10}
	good := savedCheckpoint(t, cfg)
	path := filepath.Join(t.TempDir(), "ids")
	for _, tc := range []struct {
		name string
		cfg  Config
		key  CheckpointKey
	}{
		{"another log", cfg, CheckpointKey{Log: [16]byte{9}, Low: testKey.Low, Next: testKey.Next}},
		{"appended to since", cfg, CheckpointKey{Log: testKey.Log, Low: testKey.Low, Next: testKey.Next + 1}},
		{"truncated since", cfg, CheckpointKey{Log: testKey.Log, Low: testKey.Low + 1, Next: testKey.Next}},
		{"other records over the same range", cfg, CheckpointKey{Log: testKey.Log, Low: testKey.Low, Next: testKey.Next, Last: 7}},
		{"a longer window", Config{Window: 2 * time.Minute, MaxIDs: 10}, testKey},
		{"a larger bound", Config{Window: time.Minute, MaxIDs: 11}, testKey},
	} {
		if err := os.WriteFile(path, good, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadCheckpoint(path, tc.cfg, exactly(tc.key)); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s: %v, want ErrCheckpoint", tc.name, err)
		}
	}
	if err := os.Remove(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused checkpoint was left: %v", err)
	}
	if _, err := LoadCheckpoint(path, cfg, exactly(testKey)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no checkpoint: %v, want os.ErrNotExist", err)
	}
}
