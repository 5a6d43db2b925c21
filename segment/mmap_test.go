package segment

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadFaultIsAnError: reads copy from a mapping of the store, where a
// failing disk or a file cut under the log raises a memory fault instead
// of returning an error. Cutting the active store from outside must make
// Read fail, not kill the process.
func TestReadFaultIsAnError(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, quietConfig(1<<20, 1000*entryWidth))
	// Enough records to span several pages, so that the last ones lie
	// on pages wholly past the cut.
	appendN(t, l, 200)
	store := filepath.Join(dir, "00000000000000000000.store")
	if err := os.Truncate(store, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(199); err == nil {
		t.Fatal("Read of a record whose page was cut from under the mapping succeeded")
	}
	if _, _, err := l.ReadRaw(150, 50, 1<<20, nil); err == nil {
		t.Fatal("ReadRaw of records whose pages were cut from under the mapping succeeded")
	}
}
