package segment

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/evlog/evlog/messages"
)

// processWriteBytes is write_bytes of /proc/self/io: the bytes this
// process caused to be written to storage, counted as the kernel marks
// page-cache folios dirty, whole.
func processWriteBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no write_bytes in /proc/self/io")
	return 0
}

// TestSyncedAppendsDirtyPagesNotFolios: under SyncAlways, each synced
// append of a few KiB into the mapped active store must cost the disk a
// few pages, however far into the store it is. Left to itself the kernel
// backs a sequentially faulted mapping with ever larger folios (up to
// 2 MiB), and a small write then dirties, and the fdatasync writes, a
// whole folio: 553 bytes per 100-byte record near the start of a store
// grew to 59,844 by 40 MB into it. The store's mapping is advised against
// it (adviseAppends).
func TestSyncedAppendsDirtyPagesNotFolios(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 16 MB with a sync per batch")
	}
	var c Config
	c.Sync.Mode = SyncAlways
	c.Segment.MaxStoreBytes = 64 << 20
	l := openLog(t, t.TempDir(), c)
	recs := make([]*messages.Record, 64)
	for i := range recs {
		recs[i] = &messages.Record{Value: bytes.Repeat([]byte{'v'}, 100)}
	}
	const batches = 2400 // about 16 MB of store
	var start int64
	for i := range batches {
		if i == batches/2 {
			start = processWriteBytes(t) // past the first 8 MB
		}
		if _, err := l.AppendBatch(recs); err != nil {
			t.Fatal(err)
		}
	}
	perSync := (processWriteBytes(t) - start) / (batches / 2)
	t.Logf("%d bytes written per synced batch of 64 records of 100 B", perSync)
	// A batch is about 9 KB of frames: its three or four pages and the
	// index's, 16 KiB; the whole folios of a mapping left to itself
	// made it 52 KB at this depth already.
	if perSync > 32<<10 {
		t.Fatalf("%d bytes written per synced batch of about 9 KB: the sync writes whole large folios", perSync)
	}
}
