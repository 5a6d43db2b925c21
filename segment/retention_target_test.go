package segment

import (
	"slices"
	"testing"
	"time"
)

func TestRetentionTarget(t *testing.T) {
	for _, tc := range []struct {
		name       string
		p          RetentionPolicy
		since      time.Duration
		want       uint64
		wantReason string
	}{
		{"off", RetentionPolicy{}, time.Hour, 0, ""},
		{"nothing old enough", RetentionPolicy{MaxAge: 10 * time.Minute}, 12 * time.Minute, 0, ""},
		{"by age", RetentionPolicy{MaxAge: 10 * time.Minute}, 14 * time.Minute, 3, "age 10m0s"},
		{"by bytes, all but the active one", RetentionPolicy{MaxBytes: 1}, 0, 9, "bytes 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rl := newRetentionLog(t)
			got, reason, err := rl.RetentionTarget(tc.p, rl.t0.Add(tc.since))
			if err != nil || got != tc.want || reason != tc.wantReason {
				t.Fatalf("RetentionTarget: %d %q %v, want %d %q", got, reason, err, tc.want, tc.wantReason)
			}
			// It only says: nothing goes.
			if b := bases(t, rl.dir); !slices.Equal(b, []uint64{0, 3, 6, 9}) || len(rl.removals) != 0 {
				t.Fatalf("bases %v and removals %v after RetentionTarget", b, rl.removals)
			}
		})
	}
}
