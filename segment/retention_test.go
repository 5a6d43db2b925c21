package segment

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
)

func TestRetentionCut(t *testing.T) {
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	// Four segments of 100 bytes, the last active; their newest records
	// are 4h, 3h, 2h and 1h old.
	four := []segmentInfo{{100, ago(4 * time.Hour)}, {100, ago(3 * time.Hour)}, {100, ago(2 * time.Hour)}, {100, ago(time.Hour)}}
	tests := []struct {
		name       string
		segs       []segmentInfo
		p          RetentionPolicy
		wantN      int
		wantReason string
	}{
		{"off keeps everything", four, RetentionPolicy{}, 0, ""},
		{"under the byte limit", four, RetentionPolicy{MaxBytes: 400}, 0, ""},
		{"one byte over takes the oldest", four, RetentionPolicy{MaxBytes: 399}, 1, "bytes 399"},
		{"down to the limit", four, RetentionPolicy{MaxBytes: 200}, 2, "bytes 200"},
		{"a tiny limit keeps the active one", four, RetentionPolicy{MaxBytes: 1}, 3, "bytes 1"},
		{"younger than the age", four, RetentionPolicy{MaxAge: 5 * time.Hour}, 0, ""},
		{"exactly the age is kept", four, RetentionPolicy{MaxAge: 4 * time.Hour}, 0, ""},
		{"older than the age", four, RetentionPolicy{MaxAge: 150 * time.Minute}, 2, "age 2h30m0s"},
		{"age never takes the active one", four, RetentionPolicy{MaxAge: time.Minute}, 3, "age 1m0s"},
		{"both limits", four, RetentionPolicy{MaxBytes: 300, MaxAge: 170 * time.Minute}, 2, "age 2h50m0s, bytes 300"},
		{"the byte limit goes on where the age stops", four, RetentionPolicy{MaxBytes: 100, MaxAge: 210 * time.Minute}, 3, "age 3h30m0s, bytes 100"},
		{"a prefix only: a young segment stops an old one behind it",
			[]segmentInfo{{100, ago(time.Minute)}, {100, ago(4 * time.Hour)}, {100, ago(time.Hour)}},
			RetentionPolicy{MaxAge: 2 * time.Hour}, 0, ""},
		{"an empty segment goes under any age",
			[]segmentInfo{{0, time.Time{}}, {100, ago(time.Minute)}, {100, ago(time.Minute)}},
			RetentionPolicy{MaxAge: time.Hour}, 1, "age 1h0m0s"},
		{"only the active segment", four[:1], RetentionPolicy{MaxBytes: 1, MaxAge: time.Nanosecond}, 0, ""},
		{"no segments", nil, RetentionPolicy{MaxBytes: 1}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, reason := retentionCut(tt.segs, tt.p, now)
			if n != tt.wantN || reason != tt.wantReason {
				t.Fatalf("cut %d %q, want %d %q", n, reason, tt.wantN, tt.wantReason)
			}
		})
	}
}

// retentionLog is a log of ten records in segments [0 1 2] [3 4 5] [6 7 8]
// [9], record i stamped t0 plus i minutes, and the removals and rolls its
// hooks heard of.
type retentionLog struct {
	*Log
	dir       string
	config    Config
	t0        time.Time
	frameSize uint64
	removals  []Removal
	rolls     int
}

func newRetentionLog(t *testing.T) *retentionLog {
	t.Helper()
	rl := &retentionLog{dir: t.TempDir(), t0: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	rl.frameSize = uint64(frameSize(t, value(0), 0))
	rl.config = quietConfig(3*rl.frameSize, 0)
	rl.config.OnRemove = func(r Removal) { rl.removals = append(rl.removals, r) }
	rl.config.OnRoll = func() { rl.rolls++ }
	rl.Log = openLog(t, rl.dir, rl.config)
	for i := range 10 {
		r := &messages.Record{Value: value(i), Timestamp: rl.t0.Add(time.Duration(i) * time.Minute).UnixNano()}
		if _, err := rl.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if got := bases(t, rl.dir); !slices.Equal(got, []uint64{0, 3, 6, 9}) {
		t.Fatalf("bases %v", got)
	}
	if rl.rolls != 3 {
		t.Fatalf("OnRoll heard of %d rolls, want 3", rl.rolls)
	}
	return rl
}

func TestApplyRetention(t *testing.T) {
	tests := []struct {
		name      string
		p         RetentionPolicy
		since     time.Duration // now is t0 plus since
		want      Removal
		wantBases []uint64
	}{
		{"off", RetentionPolicy{}, time.Hour, Removal{}, []uint64{0, 3, 6, 9}},
		{"nothing old enough", RetentionPolicy{MaxAge: 10 * time.Minute}, 12 * time.Minute, Removal{}, []uint64{0, 3, 6, 9}},
		// Segment 0's newest record is from minute 2, segment 3's from 5.
		{"by age, the oldest", RetentionPolicy{MaxAge: 10 * time.Minute}, 14 * time.Minute,
			Removal{From: 0, To: 3, Segments: 1, Reason: "age 10m0s"}, []uint64{3, 6, 9}},
		{"by age, every sealed one", RetentionPolicy{MaxAge: 10 * time.Minute}, 24 * time.Hour,
			Removal{From: 0, To: 9, Segments: 3, Reason: "age 10m0s"}, []uint64{9}},
		{"by bytes", RetentionPolicy{MaxBytes: 7}, 0,
			Removal{From: 0, To: 3, Segments: 1, Reason: "bytes 7"}, []uint64{3, 6, 9}},
		{"by bytes, all but the active one", RetentionPolicy{MaxBytes: 1}, 0,
			Removal{From: 0, To: 9, Segments: 3, Reason: "bytes 1"}, []uint64{9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rl := newRetentionLog(t)
			p := tt.p
			if p.MaxBytes > 0 {
				// In frames: the records are all of one size.
				p.MaxBytes *= rl.frameSize
				tt.want.Reason = "bytes " + itoa(p.MaxBytes)
			}
			tt.want.Bytes = uint64(tt.want.Segments) * 3 * rl.frameSize
			got, err := rl.ApplyRetention(p, rl.t0.Add(tt.since))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("removal %+v, want %+v", got, tt.want)
			}
			if b := bases(t, rl.dir); !slices.Equal(b, tt.wantBases) {
				t.Fatalf("bases %v, want %v", b, tt.wantBases)
			}
			if tt.want.Empty() {
				if len(rl.removals) != 0 {
					t.Fatalf("OnRemove heard of %+v", rl.removals)
				}
			} else if len(rl.removals) != 1 || rl.removals[0] != tt.want {
				t.Fatalf("OnRemove heard of %+v, want %+v", rl.removals, tt.want)
			}
			// The mark is persisted: a reopened log starts where the
			// removal left it, and reads below it are out of range.
			closeLog(t, rl.Log)
			l := openLog(t, rl.dir, rl.config)
			if lo, err := l.LowestOffset(); err != nil || lo != tt.want.To {
				t.Fatalf("lowest after reopen %d, %v; want %d", lo, err, tt.want.To)
			}
			if tt.want.To > 0 {
				_, err := l.Read(tt.want.To - 1)
				checkOutOfRange(t, err, tt.want.To-1)
			}
			if r, err := l.Read(9); err != nil || string(r.Value) != string(value(9)) {
				t.Fatalf("read of the active segment's record: %v, %v", r, err)
			}
		})
	}
}

// TestApplyRetentionTwice: a second pass at the same moment finds nothing
// more to remove, and a later one goes on from the mark.
func TestApplyRetentionTwice(t *testing.T) {
	rl := newRetentionLog(t)
	p := RetentionPolicy{MaxAge: 10 * time.Minute}
	for _, step := range []struct {
		since  time.Duration
		wantTo uint64
	}{{14 * time.Minute, 3}, {14 * time.Minute, 3}, {17 * time.Minute, 6}, {time.Hour, 9}, {2 * time.Hour, 9}} {
		if _, err := rl.ApplyRetention(p, rl.t0.Add(step.since)); err != nil {
			t.Fatal(err)
		}
		if lo, _ := rl.LowestOffset(); lo != step.wantTo {
			t.Fatalf("at +%v lowest %d, want %d", step.since, lo, step.wantTo)
		}
	}
	if len(rl.removals) != 3 {
		t.Fatalf("OnRemove heard of %d removals, want 3: %+v", len(rl.removals), rl.removals)
	}
	if len(rl.newest) != 0 {
		t.Fatalf("remembers the times of removed segments: %v", rl.newest)
	}
}

// TestApplyRetentionAfterTruncate: records a truncation already hid are
// not reported again, and the removal starts at the mark.
func TestApplyRetentionAfterTruncate(t *testing.T) {
	rl := newRetentionLog(t)
	if err := rl.TruncateFront(4); err != nil {
		t.Fatal(err)
	}
	if want := (Removal{From: 0, To: 4, Segments: 1, Bytes: 3 * rl.frameSize}); len(rl.removals) != 1 || rl.removals[0] != want {
		t.Fatalf("truncate reported %+v, want %+v", rl.removals, want)
	}
	got, err := rl.ApplyRetention(RetentionPolicy{MaxBytes: 1}, rl.t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Removal{From: 4, To: 9, Segments: 2, Bytes: 6 * rl.frameSize, Reason: "bytes 1"}); got != want {
		t.Fatalf("removal %+v, want %+v", got, want)
	}
	// A truncation that hides nothing new is not reported.
	if err := rl.TruncateFront(2); err != nil {
		t.Fatal(err)
	}
	if len(rl.removals) != 2 {
		t.Fatalf("OnRemove heard of %+v", rl.removals)
	}
}

// TestApplyRetentionDamagedTail: a sealed segment whose last record is
// damaged is judged by its store's modification time.
func TestApplyRetentionDamagedTail(t *testing.T) {
	rl := newRetentionLog(t)
	s := rl.segments[0]
	start, _, err := s.bounds(2)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a payload byte of record 2 through the file, not the mapping.
	path := s.store.name
	b := readFile(t, path)
	b[start+10] ^= 0xff
	writeFile(t, path, b)
	// The store was just written: young, so an age limit keeps it even
	// though its records' timestamps are old.
	now := time.Now()
	got, err := rl.ApplyRetention(RetentionPolicy{MaxAge: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Empty() {
		t.Fatalf("removed %+v by the damaged record's neighbours' age", got)
	}
	got, err = rl.ApplyRetention(RetentionPolicy{MaxAge: time.Hour}, now.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// The other segments' records are stamped in 2030: they stay.
	if got.From != 0 || got.To != 3 {
		t.Fatalf("two hours on, removal %+v, want the damaged segment", got)
	}
}

func TestApplyRetentionClosed(t *testing.T) {
	rl := newRetentionLog(t)
	closeLog(t, rl.Log)
	if _, err := rl.ApplyRetention(RetentionPolicy{MaxBytes: 1}, rl.t0); !errors.Is(err, ErrClosed) {
		t.Fatalf("apply on a closed log: %v", err)
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
