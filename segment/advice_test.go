package segment

import (
	"strings"
	"testing"
)

// TestCheckAdviceKeepsIntactRecords damages a log of one segment, where
// the only truncation that deletes the damage deletes the whole log: the
// advice must name the intact records, say that a repair keeps them, and
// never suggest giving them up.
func TestCheckAdviceKeepsIntactRecords(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, store string, fr []framePos)
		want   []string
	}{
		{"bit flip mid-store", func(t *testing.T, store string, fr []framePos) {
			flipBit(t, store, int64(fr[1].pos+fr[1].size-1), 0x40)
		}, []string{"offsets 0 to 0 are intact", "and 1 more after the damage", "keeps every intact record", "restore"}},
		{"torn tail", func(t *testing.T, store string, fr []framePos) {
			writeFile(t, store, readFile(t, store)[:fr[2].pos+3])
		}, []string{"offsets 0 to 1 are intact", "keeps every intact record", "evlog check --repair", "cuts only the damaged tail"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, quietConfig(1<<20, 100*entryWidth))
			appendN(t, l, 3)
			closeLog(t, l)
			store := files(t, dir, storeSuffix)[0]
			tt.damage(t, store, frames(t, store))
			rep := check(t, dir)
			if len(rep.Segments) != 1 || rep.Segments[0].Status != StatusDamaged {
				t.Fatalf("report %+v", rep)
			}
			advice := rep.Segments[0].Advice
			for _, w := range tt.want {
				if !strings.Contains(advice, w) {
					t.Errorf("advice %q does not say %q", advice, w)
				}
			}
			for _, bad := range []string{"truncate", "deletes this segment", "given up"} {
				if strings.Contains(advice, bad) {
					t.Errorf("advice %q suggests deleting intact records (%q)", advice, bad)
				}
			}
		})
	}
}
