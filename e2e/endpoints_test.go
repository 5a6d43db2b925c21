package e2e

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/client"
)

func TestAppendReadInfoTruncate(t *testing.T) {
	e := newEnv(t, service.Config{})
	ctx := ctxT(t)

	const n = 2000
	for i := 0; i < n; i += 100 {
		batch := make([]messages.Record, 100)
		for j := range batch {
			batch[j] = messages.Record{Value: val(i + j), Key: []byte("k"), Headers: map[string]string{"n": "1"}, Offset: 999, Timestamp: 1}
		}
		rep, err := e.c.Append(ctx, batch...)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if rep.FirstOffset != uint64(i) || rep.LastOffset != uint64(i+99) {
			t.Fatalf("append %d: got %+v", i, rep)
		}
	}

	// Default read: one record.
	rep, err := e.c.Read(ctx, 5, client.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Records) != 1 || rep.NextOffset != 6 {
		t.Fatalf("default read: %d records, next %d", len(rep.Records), rep.NextOffset)
	}
	r := rep.Records[0]
	// The service assigns offset and timestamp whatever the client sent.
	if r.Offset != 5 || !bytes.Equal(r.Value, val(5)) || string(r.Key) != "k" || r.Headers["n"] != "1" || r.Timestamp < time.Now().Add(-time.Minute).UnixNano() {
		t.Fatalf("read 5: got %+v", r)
	}

	// Batched reads cover everything, in order, across segments.
	for off := uint64(0); off < n; {
		rep, err := e.c.Read(ctx, off, client.ReadOptions{MaxRecords: 300})
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if len(rep.Records) == 0 || len(rep.Records) > 300 {
			t.Fatalf("read %d: %d records", off, len(rep.Records))
		}
		for _, r := range rep.Records {
			if r.Offset != off || !bytes.Equal(r.Value, val(int(off))) {
				t.Fatalf("read: got offset %d value %q, want %d", r.Offset, r.Value, off)
			}
			off++
		}
		if rep.NextOffset != off {
			t.Fatalf("next offset %d, want %d", rep.NextOffset, off)
		}
	}

	// max_bytes limits a batch but yields to the first record.
	rep, err = e.c.Read(ctx, 0, client.ReadOptions{MaxRecords: 100, MaxBytes: 1})
	if err != nil || len(rep.Records) != 1 {
		t.Fatalf("read with tiny max_bytes: %v, %d records", err, len(rep.Records))
	}

	// At the end: empty, immediately.
	rep, err = e.c.Read(ctx, n, client.ReadOptions{MaxRecords: 10})
	if err != nil || len(rep.Records) != 0 || rep.NextOffset != n {
		t.Fatalf("read at end: %v %+v", err, rep)
	}

	info, err := e.c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.LowestOffset != 0 || info.NextOffset != n || info.Segments < 2 || info.Bytes == 0 {
		t.Fatalf("info: %+v", info)
	}

	lowest, err := e.c.Truncate(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if lowest > 1000 || lowest == 0 {
		t.Fatalf("truncate to 1000: lowest %d", lowest)
	}
	if _, err := e.c.Read(ctx, lowest-1, client.ReadOptions{}); !errors.Is(err, client.ErrOffsetOutOfRange) {
		t.Fatalf("read below lowest: %v", err)
	}
	if rep, err := e.c.Read(ctx, lowest, client.ReadOptions{}); err != nil || rep.Records[0].Offset != lowest {
		t.Fatalf("read at lowest: %v", err)
	}
	info, err = e.c.Info(ctx)
	if err != nil || info.LowestOffset != lowest || info.NextOffset != n {
		t.Fatalf("info after truncate: %v %+v", err, info)
	}
	// Truncating to the next offset empties the log; offsets go on.
	if lowest, err := e.c.Truncate(ctx, n); err != nil || lowest != n {
		t.Fatalf("truncate to next: %d %v", lowest, err)
	}
	if rep, err := e.c.Append(ctx, rec([]byte("after"))); err != nil || rep.FirstOffset != n {
		t.Fatalf("append after emptying: %+v %v", rep, err)
	}
}

func TestClientErrors(t *testing.T) {
	e := newEnv(t, service.Config{MaxRecordBytes: 1000, MaxBatchRecords: 10})
	ctx := ctxT(t)
	if _, err := e.c.Append(ctx, rec([]byte("a")), rec([]byte("b"))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"append nothing", func() error { _, err := e.c.Append(ctx); return err }, client.ErrBadRequest},
		{"append empty record", func() error { _, err := e.c.Append(ctx, messages.Record{}); return err }, client.ErrBadRequest},
		{"append too large", func() error { _, err := e.c.Append(ctx, rec(make([]byte, 1000))); return err }, client.ErrTooLarge},
		{"append too many", func() error {
			_, err := e.c.Append(ctx, make([]messages.Record, 11)...)
			return err
		}, client.ErrTooLarge},
		{"read beyond next", func() error { _, err := e.c.Read(ctx, 3, client.ReadOptions{}); return err }, client.ErrOffsetOutOfRange},
		{"truncate beyond next", func() error { _, err := e.c.Truncate(ctx, 3); return err }, client.ErrOffsetOutOfRange},
		{"no service", func() error {
			_, err := client.New(e.nc, client.WithPrefix("nobody")).Info(ctx)
			return err
		}, client.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			var ce *client.Error
			if tt.want != client.ErrUnavailable && (!errors.As(err, &ce) || ce.Description == "") {
				t.Fatalf("no description in %v", err)
			}
		})
	}
	// A key alone is a record.
	if _, err := e.c.Append(ctx, messages.Record{Key: []byte("k")}); err != nil {
		t.Fatalf("append key only: %v", err)
	}
	if _, err := e.c.Append(ctx, rec(make([]byte, 900))); err != nil {
		t.Fatalf("append just under the limit: %v", err)
	}
}

func TestLongPoll(t *testing.T) {
	e := newEnv(t, service.Config{})
	ctx := ctxT(t)

	// A read that waits gets records committed while it waits.
	got := make(chan messages.ReadReply, 1)
	errc := make(chan error, 1)
	go func() {
		rep, err := e.c.Read(ctx, 0, client.ReadOptions{MaxRecords: 10, Wait: 10 * time.Second})
		errc <- err
		got <- rep
	}()
	waitFor(t, "a parked read", func() bool { return e.node.svc.Stats().ParkedReads == 1 })
	start := time.Now()
	if _, err := e.c.Append(ctx, rec([]byte("x")), rec([]byte("y"))); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	rep := <-got
	if len(rep.Records) != 2 || rep.NextOffset != 2 || time.Since(start) > 5*time.Second {
		t.Fatalf("long poll: %+v after %v", rep, time.Since(start))
	}

	// A read whose wait expires gets an empty reply.
	start = time.Now()
	rep, err := e.c.Read(ctx, 2, client.ReadOptions{Wait: 50 * time.Millisecond})
	if err != nil || len(rep.Records) != 0 || rep.NextOffset != 2 {
		t.Fatalf("expired long poll: %v %+v", err, rep)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("expired long poll returned after %v", d)
	}

	// A read still waiting when the service stops, with nothing committed
	// for it, is answered at once with 503, so that a follower knows to
	// reconnect.
	go func() {
		rep, err := e.c.Read(ctx, 2, client.ReadOptions{Wait: 30 * time.Second})
		errc <- err
		got <- rep
	}()
	waitFor(t, "a parked read", func() bool { return e.node.svc.Stats().ParkedReads == 1 })
	start = time.Now()
	e.node.stop(t)
	if err := <-errc; !errors.Is(err, client.ErrUnavailable) || time.Since(start) > 5*time.Second {
		t.Fatalf("parked read at stop: %v after %v, want ErrUnavailable at once", err, time.Since(start))
	}
	<-got
}
