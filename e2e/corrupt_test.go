package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
)

// corruptReadAll reads the records [0, n) one request at a time.
func corruptReadAll(t *testing.T, nc *nats.Conn, n int) []messages.Record {
	t.Helper()
	c := client.New(nc)
	var all []messages.Record
	for len(all) < n {
		rr, err := c.Read(ctxT(t), uint64(len(all)), client.ReadOptions{MaxRecords: 100})
		if err != nil {
			t.Fatalf("read %d: %v", len(all), err)
		}
		all = append(all, rr.Records...)
	}
	return all
}

// TestCorruptBatchReadStopsAtDamage reads a batch that runs into a damaged
// record: the intact records before it come back, and the read that starts
// at it gets the error, so that a reader following the log gets every
// intact record and learns exactly which one is lost.
func TestCorruptBatchReadStopsAtDamage(t *testing.T) {
	ns := runServer(t, nil)
	dir := t.TempDir()
	n := startNode(t, ns.ClientURL(), dir, segment.Config{}, service.Config{})
	nc := connect(t, ns.ClientURL())
	c := client.New(nc)
	ctx := ctxT(t)
	var recs []messages.Record
	for i := range 10 {
		recs = append(recs, rec(val(i)))
	}
	if _, err := c.Append(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	want := corruptReadAll(t, nc, 10)
	n.stop(t)
	// Flip a bit in the last byte of record 5, the value's last byte.
	store := filepath.Join(dir, "00000000000000000000.store")
	b, err := os.ReadFile(store)
	if err != nil {
		t.Fatal(err)
	}
	end := 0
	for i := 0; i <= 5; i++ {
		end += 8 + int(binary.BigEndian.Uint32(b[end:]))
	}
	b[end-1] ^= 0x01
	if err := os.WriteFile(store, b, 0o644); err != nil {
		t.Fatal(err)
	}
	startNode(t, ns.ClientURL(), dir, segment.Config{}, service.Config{})

	for _, from := range []uint64{0, 3} {
		rr, err := c.Read(ctx, from, client.ReadOptions{MaxRecords: 10})
		if err != nil {
			t.Fatalf("read from %d: %v, want the intact records up to 5", from, err)
		}
		if rr.NextOffset != 5 || len(rr.Records) != int(5-from) {
			t.Fatalf("read from %d: %d records, next %d; want up to 5", from, len(rr.Records), rr.NextOffset)
		}
		for i, r := range rr.Records {
			if w := want[from+uint64(i)]; r.Offset != w.Offset || !bytes.Equal(r.Value, w.Value) || r.Timestamp != w.Timestamp {
				t.Fatalf("record %d: %+v, want %+v", w.Offset, r, w)
			}
		}
	}
	_, err = c.Read(ctx, 5, client.ReadOptions{MaxRecords: 10})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != 500 || !strings.Contains(ce.Description, "offset 5") || !strings.Contains(ce.Description, "checksum") {
		t.Fatalf("read of the damaged record: %v, want 500 naming offset 5 and the checksum", err)
	}
	rr, err := c.Read(ctx, 6, client.ReadOptions{MaxRecords: 10})
	if err != nil || len(rr.Records) != 4 || rr.NextOffset != 10 {
		t.Fatalf("read after the damaged record: %+v, %v", rr, err)
	}
}
