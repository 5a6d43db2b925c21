package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evlog/evlog/messages"
)

// A Driver is one run: its clients, what they send, and what they
// measured. Progress may be called while Run runs.
type Driver struct {
	cfg        Config
	appendBody []byte
	clients    []*driverClient

	readSeq atomic.Uint64 // the Read mode's next read, counting from 0
	// idPrefix, random per run, and idSeq make Config.Idempotent's ids
	// unique across runs against one log.
	idPrefix string
	idSeq    atomic.Uint64
	// tail is 1 + the first offset of the latest acknowledged append, 0
	// before any: where the Mixed mode reads.
	tail atomic.Uint64
	// asked counts the records requested, for Config.Records.
	asked atomic.Int64

	stop     chan struct{} // closed when no more requests are to be sent
	stopOnce sync.Once
	ran      atomic.Bool
	closed   sync.Once // guards Close

	stats stats
}

// driverClient is one connection of a run and its window.
type driverClient struct {
	nc       *nats.Conn
	w        *Window[bool] // tagged true for a read
	readNext bool          // the Mixed mode's next request is a read; send's alone
}

// New validates cfg, dials every client and subscribes to its replies.
// The caller closes the Driver.
func New(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := cfg.checkTarget(); err != nil {
		return nil, err
	}
	d := &Driver{cfg: cfg, stop: make(chan struct{})}
	d.stats.errors = map[string]int64{}
	if cfg.NextOffset > cfg.LowestOffset {
		d.tail.Store(cfg.NextOffset) // 1 + the last record's offset
	}
	if cfg.Mode != Read {
		var err error
		d.idPrefix = strconv.FormatUint(rand.Uint64(), 36) + "-"
		if d.appendBody, err = appendBody(cfg.Batch, cfg.Size); err != nil {
			return nil, err
		}
	}
	for i := range cfg.Clients {
		c, err := d.dial(i)
		if err != nil {
			return nil, errors.Join(err, d.Close())
		}
		d.clients = append(d.clients, c)
	}
	return d, nil
}

// appendBody encodes the append request of batch records of size bytes
// that every append of a run sends.
func appendBody(batch, size int) ([]byte, error) {
	value := make([]byte, size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	recs := make([]messages.Record, batch)
	for i := range recs {
		recs[i] = messages.Record{Value: value}
	}
	return messages.Marshal(&messages.AppendRequest{Records: recs})
}

func (d *Driver) dial(i int) (*driverClient, error) {
	nc, err := d.cfg.Dial(i)
	if err != nil {
		return nil, err
	}
	w, err := NewWindow(nc, d.cfg.Inflight, d.cfg.Timeout, func(a Answer[bool]) {
		if a.Msg == nil {
			d.stats.add(a.Tag, a.Latency, 0, 0, errorKey(a.Err))
			return
		}
		records, bytes, key := d.outcome(a.Tag, a.Msg)
		d.stats.add(a.Tag, a.Latency, records, bytes, key)
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &driverClient{nc: nc, w: w}, nil
}

// Run sends requests until the run's duration has passed, its records
// have been asked for or ctx is done, waits for those in flight, and
// reports. A Driver runs once; a second call returns an error.
func (d *Driver) Run(ctx context.Context) (*Report, error) {
	if !d.ran.CompareAndSwap(false, true) {
		return nil, errors.New("load: Run called twice")
	}
	start := time.Now()
	if d.cfg.Records == 0 {
		timer := time.AfterFunc(d.cfg.Duration, d.halt)
		defer timer.Stop()
	}
	defer context.AfterFunc(ctx, d.halt)()
	var wg sync.WaitGroup
	for _, c := range d.clients {
		wg.Go(func() { d.send(c) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	d.halt()
	return d.stats.report(d.cfg, elapsed), nil
}

// Close closes every client's window and connection, and returns the
// windows' errors. It is idempotent.
func (d *Driver) Close() error {
	var errs []error
	d.closed.Do(func() {
		d.halt()
		for _, c := range d.clients {
			errs = append(errs, c.w.Close())
			c.nc.Close()
		}
	})
	return errors.Join(errs...)
}

// Progress is how far a run has come.
type Progress struct {
	// Records is the records of the requests answered without error.
	Records int64
	// Errors is the requests that failed.
	Errors int64
	// Asked is the records requested so far, counted for Config.Records
	// only.
	Asked int64
}

// Progress returns how far the run has come.
func (d *Driver) Progress() Progress {
	records, errs := d.stats.snapshot()
	return Progress{Records: records, Errors: errs, Asked: d.asked.Load()}
}

func (d *Driver) halt() { d.stopOnce.Do(func() { close(d.stop) }) }

// reserve claims n more records of Config.Records, and reports whether
// there were any left to claim.
func (d *Driver) reserve(n int) bool {
	if d.cfg.Records == 0 {
		return true
	}
	if d.asked.Add(int64(n))-int64(n) >= d.cfg.Records {
		d.halt()
		return false
	}
	return true
}

// send sends c's requests while it has free slots, until the run stops,
// then waits for every request in flight to be answered or time out.
func (d *Driver) send(c *driverClient) {
	defer c.w.Drain()
	for {
		slot, ok := c.w.Acquire(d.stop)
		if !ok {
			return
		}
		read, subject, body, err := d.next(c)
		if err != nil || !d.reserve(d.cfg.Batch) {
			c.w.Release(slot)
			d.halt()
			return
		}
		c.w.Send(slot, subject, body, read)
	}
}

// next returns c's next request: its kind, subject and body.
func (d *Driver) next(c *driverClient) (read bool, subject string, body []byte, err error) {
	cfg := &d.cfg
	switch cfg.Mode {
	case Append:
		return false, cfg.Subjects.Append, d.nextAppend(), nil
	case Mixed:
		// Alternate, starting with an append; read the newest records,
		// from the first of the latest acknowledged append.
		tail := d.tail.Load()
		read, c.readNext = c.readNext && tail > 0, !c.readNext
		if !read {
			return false, cfg.Subjects.Append, d.nextAppend(), nil
		}
		body, err = messages.Marshal(&messages.ReadRequest{Offset: tail - 1, MaxRecords: uint64(cfg.Batch)})
		return true, cfg.Subjects.Read, body, err
	}
	k := d.readSeq.Add(1) - 1
	span := cfg.NextOffset - cfg.LowestOffset
	off := cfg.LowestOffset + k*uint64(cfg.Batch)%span
	body, err = messages.Marshal(&messages.ReadRequest{Offset: off, MaxRecords: uint64(cfg.Batch)})
	return true, cfg.Subjects.Read, body, err
}

// nextAppend returns the body of the next append: the same records each
// time, with a fresh id under Config.Idempotent. The id is spliced into
// the encoded body rather than the body encoded again, so that the run
// measures the service's cost, not the driver's.
func (d *Driver) nextAppend() []byte {
	if !d.cfg.Idempotent {
		return d.appendBody
	}
	id := strconv.AppendUint(append(make([]byte, 0, 32), d.idPrefix...), d.idSeq.Add(1), 36)
	// appendBody is a map of one key, its first byte 0x81: make it two.
	b := make([]byte, 0, len(d.appendBody)+len(id)+4)
	b = append(append(b, 0x82), d.appendBody[1:]...)
	b = append(b, 0xa2, 'i', 'd', 0xa0|byte(len(id)))
	return append(b, id...)
}

// errorKey is the key under which a request that got no reply is counted.
func errorKey(err error) string {
	if errors.Is(err, ErrTimeout) {
		return "timeout"
	}
	return err.Error()
}

// outcome decodes a reply: the records and bytes it acknowledged or
// returned, or the key under which its error is counted.
func (d *Driver) outcome(read bool, m *nats.Msg) (records, bytes int64, errKey string) {
	if code := m.Header.Get("Nats-Service-Error-Code"); code != "" {
		return 0, 0, code
	}
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return 0, 0, "no responders"
	}
	if read {
		var rep messages.ReadReply
		if err := messages.Unmarshal(m.Data, &rep); err != nil {
			return 0, 0, "bad reply"
		}
		for _, rec := range rep.Records {
			bytes += int64(len(rec.Value))
		}
		return int64(len(rep.Records)), bytes, ""
	}
	var rep messages.AppendReply
	batch := d.cfg.Batch
	if err := messages.Unmarshal(m.Data, &rep); err != nil || rep.LastOffset-rep.FirstOffset+1 != uint64(batch) {
		return 0, 0, "bad reply"
	}
	for {
		t := d.tail.Load()
		if t > rep.FirstOffset || d.tail.CompareAndSwap(t, rep.FirstOffset+1) {
			break
		}
	}
	return int64(batch), int64(batch) * int64(d.cfg.Size), ""
}
