package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/evlog/evlog/messages"
)

// The modes of evlog bench.
const (
	benchAppend = "append"
	benchRead   = "read"
	benchMixed  = "mixed"
)

// benchOptions are what evlog bench is asked to do.
type benchOptions struct {
	mode                           string
	clients, inflight, batch, size int
	duration                       time.Duration
	records                        int64
	timeout                        time.Duration
}

func (o benchOptions) validate() error {
	switch o.mode {
	case benchAppend, benchRead, benchMixed:
	default:
		return fmt.Errorf("--mode: want append, read or mixed, got %q", o.mode)
	}
	// The upper bounds keep a typo from allocating gigabytes up front.
	for _, f := range []struct {
		name string
		v    int
		max  int
	}{{"clients", o.clients, 1 << 12}, {"inflight", o.inflight, 1 << 16}, {"batch", o.batch, 1 << 20}, {"size", o.size, 64 << 20}} {
		if f.v < 1 || f.v > f.max {
			return fmt.Errorf("--%s must be from 1 to %d, got %d", f.name, f.max, f.v)
		}
	}
	if o.records < 0 {
		return fmt.Errorf("--records must not be negative, got %d", o.records)
	}
	if o.records == 0 && o.duration <= 0 {
		return fmt.Errorf("--duration must be positive, got %v", o.duration)
	}
	if o.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %v", o.timeout)
	}
	return nil
}

func benchCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("evlog bench", flag.ContinueOnError)
	cf := addClientFlags(fs)
	var o benchOptions
	fs.StringVar(&o.mode, "mode", benchAppend, "append, read (cycles over the log's records) or mixed (each client alternates appends and reads of the newest records)")
	fs.IntVar(&o.clients, "clients", 1, "NATS connections, each with its own window of requests")
	fs.IntVar(&o.inflight, "inflight", 1, "requests in flight per client")
	fs.IntVar(&o.batch, "batch", 1, "records per append; most records per read")
	fs.IntVar(&o.size, "size", 100, "bytes of each appended record's value")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send requests")
	fs.Int64Var(&o.records, "records", 0, "stop after asking for this many records instead of after --duration")
	return &ffcli.Command{
		Name:       "bench",
		ShortUsage: "evlog bench [--mode append|read|mixed] [--clients N] [--inflight N] [--batch N] [--size BYTES] [--duration D | --records N] [flags]",
		ShortHelp:  "measure a running evlog: records/s, MB/s and request latency",
		LongHelp: "Drive a running evlog over NATS and report what it sustained.\n\n" +
			"Each of --clients connections keeps --inflight requests unanswered,\n" +
			"each holding --batch records of --size bytes (appends) or asking for\n" +
			"--batch records (reads). A request unanswered after --timeout counts as\n" +
			"an error. Progress goes to stderr; the summary (records/s, MB/s, errors\n" +
			"by code, latency percentiles and a histogram of the answered requests)\n" +
			"to stdout, as JSON with --json. Appends go into the log like any\n" +
			"others: bench a log whose records you can spare.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if err := noArgs("bench", args); err != nil {
				return err
			}
			o.timeout = *cf.timeout
			if err := o.validate(); err != nil {
				return usageError{err}
			}
			ctx, stop := notifyContext(ctx)
			defer stop()
			rep, err := runBench(ctx, cf, o, newBenchProgress(stderr, o))
			if err != nil {
				return err
			}
			if *cf.json {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else if err := rep.write(stdout); err != nil {
				return err
			}
			if rep.Requests == 0 {
				return fmt.Errorf("bench: no request succeeded (%s)", rep.errorSummary())
			}
			return nil
		},
	}
}

// benchRun is one run of evlog bench, shared by its clients.
type benchRun struct {
	o          benchOptions
	subjects   messages.Subjects
	appendBody []byte

	// The read mode cycles over [lowest, lowest+span).
	lowest, span uint64
	readSeq      atomic.Uint64
	// tail is 1 + the first offset of the latest acknowledged append, 0
	// before any: where the mixed mode reads.
	tail atomic.Uint64
	// asked counts the records requested, for --records.
	asked atomic.Int64

	stop     chan struct{} // closed when no more requests are to be sent
	stopOnce sync.Once

	stats benchStats
}

func (r *benchRun) halt() { r.stopOnce.Do(func() { close(r.stop) }) }

// reserve claims n more records of --records, and reports whether there
// were any left to claim.
func (r *benchRun) reserve(n int) bool {
	if r.o.records == 0 {
		return true
	}
	if r.asked.Add(int64(n))-int64(n) >= r.o.records {
		r.halt()
		return false
	}
	return true
}

// runBench drives the service and returns the report.
func runBench(ctx context.Context, cf clientFlags, o benchOptions, progress *benchProgress) (*benchReport, error) {
	nc, c, err := cf.connect()
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	ictx, cancel := cf.ctx(ctx)
	inf, err := c.Info(ictx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	r := &benchRun{o: o, subjects: c.Subjects(), stop: make(chan struct{}), lowest: inf.LowestOffset, span: inf.NextOffset - inf.LowestOffset}
	r.stats.errors = map[string]int64{}
	if o.mode == benchRead && r.span == 0 {
		return nil, errors.New("bench: the log is empty, nothing to read: run evlog bench --mode append first")
	}
	if inf.NextOffset > inf.LowestOffset {
		r.tail.Store(inf.NextOffset) // 1 + the last record's offset
	}
	if o.mode != benchRead {
		value := make([]byte, o.size)
		for i := range value {
			value[i] = byte('a' + i%26)
		}
		recs := make([]messages.Record, o.batch)
		for i := range recs {
			recs[i] = messages.Record{Value: value}
		}
		if r.appendBody, err = messages.Marshal(&messages.AppendRequest{Records: recs}); err != nil {
			return nil, err
		}
	}

	clients := make([]*benchClient, o.clients)
	for i := range clients {
		bc, err := newBenchClient(cf, r, i)
		if err != nil {
			for _, bc := range clients[:i] {
				bc.close()
			}
			return nil, err
		}
		clients[i] = bc
	}
	start := time.Now()
	if o.records == 0 {
		timer := time.AfterFunc(o.duration, r.halt)
		defer timer.Stop()
	}
	defer context.AfterFunc(ctx, r.halt)()
	progressDone := make(chan struct{})
	var progressWG sync.WaitGroup
	progressWG.Go(func() { progress.run(start, &r.stats, &r.asked, progressDone) })
	var wg sync.WaitGroup
	for _, bc := range clients {
		wg.Go(bc.drive)
	}
	wg.Wait()
	elapsed := time.Since(start)
	r.halt()
	close(progressDone)
	progressWG.Wait()
	for _, bc := range clients {
		bc.close()
	}
	return r.stats.report(o, elapsed), nil
}

// benchClient is one connection with its window of requests. A request's
// reply subject names its slot in the window and the slot's generation,
// so that a reply arriving after its request timed out is recognised and
// dropped.
type benchClient struct {
	r     *benchRun
	nc    *nats.Conn
	sub   *nats.Subscription
	inbox string
	free  chan int // slots with no request in flight

	// mu guards slots.
	mu    sync.Mutex
	slots []benchSlot

	sweepDone chan struct{}
	sweepWG   sync.WaitGroup
	readNext  bool // the mixed mode's next request is a read; drive's alone
}

type benchSlot struct {
	gen   uint64
	busy  bool
	read  bool // a read, not an append
	start time.Time
}

func newBenchClient(cf clientFlags, r *benchRun, i int) (*benchClient, error) {
	opts, err := cf.natsOptions(fmt.Sprintf("evlog bench %d", i))
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(*cf.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", *cf.url, err)
	}
	c := &benchClient{r: r, nc: nc, inbox: nc.NewInbox(), free: make(chan int, r.o.inflight),
		slots: make([]benchSlot, r.o.inflight), sweepDone: make(chan struct{})}
	for s := range r.o.inflight {
		c.free <- s
	}
	if c.sub, err = nc.Subscribe(c.inbox+".*.*", c.reply); err == nil {
		err = c.sub.SetPendingLimits(-1, -1)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to replies: %w", err)
	}
	c.sweepWG.Go(c.sweep)
	return c, nil
}

// drive sends requests while there are free slots, until the run stops,
// then waits for every request in flight to be answered or time out.
func (c *benchClient) drive() {
	held := 0
	defer func() {
		for ; held < c.r.o.inflight; held++ {
			<-c.free
		}
	}()
	for {
		var slot int
		select {
		case <-c.r.stop:
			return
		case slot = <-c.free:
		}
		select {
		case <-c.r.stop:
			held++
			return
		default:
		}
		read, subject, body, err := c.next()
		if err != nil || !c.r.reserve(c.r.o.batch) {
			held++
			c.r.halt()
			return
		}
		c.mu.Lock()
		s := &c.slots[slot]
		s.gen++
		s.busy, s.read, s.start = true, read, time.Now()
		gen := s.gen
		c.mu.Unlock()
		reply := c.inbox + "." + strconv.Itoa(slot) + "." + strconv.FormatUint(gen, 10)
		if err := c.nc.PublishRequest(subject, reply, body); err != nil {
			c.finish(slot, gen, nil, "publish: "+err.Error())
		}
	}
}

// next returns the next request: its kind, subject and body.
func (c *benchClient) next() (read bool, subject string, body []byte, err error) {
	r := c.r
	switch r.o.mode {
	case benchAppend:
		return false, r.subjects.Append, r.appendBody, nil
	case benchMixed:
		// Alternate, starting with an append; read the newest records,
		// from the first of the latest acknowledged append.
		tail := r.tail.Load()
		read, c.readNext = c.readNext && tail > 0, !c.readNext
		if !read {
			return false, r.subjects.Append, r.appendBody, nil
		}
		body, err = messages.Marshal(&messages.ReadRequest{Offset: tail - 1, MaxRecords: uint64(r.o.batch)})
		return true, r.subjects.Read, body, err
	}
	k := r.readSeq.Add(1) - 1
	off := r.lowest + k*uint64(r.o.batch)%r.span
	body, err = messages.Marshal(&messages.ReadRequest{Offset: off, MaxRecords: uint64(r.o.batch)})
	return true, r.subjects.Read, body, err
}

// reply takes the answer to a request.
func (c *benchClient) reply(m *nats.Msg) {
	slotStr, genStr, _ := strings.Cut(m.Subject[len(c.inbox)+1:], ".")
	slot, err1 := strconv.Atoi(slotStr)
	gen, err2 := strconv.ParseUint(genStr, 10, 64)
	if err1 != nil || err2 != nil || slot < 0 || slot >= len(c.slots) {
		return
	}
	c.finish(slot, gen, m, "")
}

// finish ends the request in slot of generation gen, answered by m or
// failed with errKey, unless it has ended already.
func (c *benchClient) finish(slot int, gen uint64, m *nats.Msg, errKey string) {
	c.mu.Lock()
	s := &c.slots[slot]
	if !s.busy || s.gen != gen {
		c.mu.Unlock()
		return // answered after it timed out
	}
	s.busy = false
	read, lat := s.read, time.Since(s.start)
	c.mu.Unlock()
	var records, bytes int64
	if m != nil {
		records, bytes, errKey = c.r.outcome(read, m)
	}
	c.r.stats.add(read, lat, records, bytes, errKey)
	c.free <- slot
}

// sweep fails the requests unanswered for longer than the timeout.
func (c *benchClient) sweep() {
	period := min(max(c.r.o.timeout/4, time.Millisecond), 100*time.Millisecond)
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-c.sweepDone:
			return
		case <-tick.C:
		}
		var late []int
		var gens []uint64
		c.mu.Lock()
		for i, s := range c.slots {
			if s.busy && time.Since(s.start) > c.r.o.timeout {
				late, gens = append(late, i), append(gens, s.gen)
			}
		}
		c.mu.Unlock()
		for i, slot := range late {
			c.finish(slot, gens[i], nil, "timeout")
		}
	}
}

func (c *benchClient) close() {
	close(c.sweepDone)
	c.sweepWG.Wait()
	c.nc.Close()
}

// outcome decodes a reply: the records and bytes it acknowledged or
// returned, or the key under which its error is counted.
func (r *benchRun) outcome(read bool, m *nats.Msg) (records, bytes int64, errKey string) {
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
	if err := messages.Unmarshal(m.Data, &rep); err != nil || rep.LastOffset-rep.FirstOffset+1 != uint64(r.o.batch) {
		return 0, 0, "bad reply"
	}
	for {
		t := r.tail.Load()
		if t > rep.FirstOffset || r.tail.CompareAndSwap(t, rep.FirstOffset+1) {
			break
		}
	}
	return int64(r.o.batch), int64(r.o.batch) * int64(r.o.size), ""
}

// benchStats accumulates the outcome of every request.
type benchStats struct {
	// mu guards the fields below.
	mu                      sync.Mutex
	requests, records, size int64 // answered without error
	appended, read          int64 // records, by kind of request
	errors                  map[string]int64
	hist                    latencyHistogram
}

func (s *benchStats) add(read bool, lat time.Duration, records, bytes int64, errKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if errKey != "" {
		s.errors[errKey]++
		return
	}
	s.requests++
	s.records += records
	if read {
		s.read += records
	} else {
		s.appended += records
	}
	s.size += bytes
	s.hist.add(lat)
}

func (s *benchStats) snapshot() (records, errs int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.errors {
		errs += n
	}
	return s.records, errs
}

// benchReport is evlog bench's result, as printed.
type benchReport struct {
	Mode              string           `json:"mode"`
	Clients           int              `json:"clients"`
	Inflight          int              `json:"inflight"`
	Batch             int              `json:"batch"`
	Size              int              `json:"size"`
	Seconds           float64          `json:"seconds"`
	Requests          int64            `json:"requests"`
	Records           int64            `json:"records"`
	Appended          int64            `json:"appended"`
	Read              int64            `json:"read"`
	Bytes             int64            `json:"bytes"`
	RequestsPerSecond float64          `json:"requests_per_second"`
	RecordsPerSecond  float64          `json:"records_per_second"`
	MBPerSecond       float64          `json:"mb_per_second"`
	Errors            map[string]int64 `json:"errors"`
	// LatencyUS are percentiles of the answered requests' latency, from
	// sending to decoding the reply, in microseconds.
	LatencyUS struct {
		P50 float64 `json:"p50"`
		P90 float64 `json:"p90"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"latency_us"`
	Histogram []benchBin `json:"histogram"`
}

// benchBin counts the answered requests slower than the previous bin's
// bound and at most UpToUS microseconds.
type benchBin struct {
	UpToUS float64 `json:"up_to_us"`
	Count  int64   `json:"count"`
}

func (s *benchStats) report(o benchOptions, elapsed time.Duration) *benchReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := elapsed.Seconds()
	rep := &benchReport{
		Mode: o.mode, Clients: o.clients, Inflight: o.inflight, Batch: o.batch, Size: o.size,
		Seconds: sec, Requests: s.requests, Records: s.records, Appended: s.appended, Read: s.read, Bytes: s.size,
		RequestsPerSecond: float64(s.requests) / sec, RecordsPerSecond: float64(s.records) / sec,
		MBPerSecond: float64(s.size) / 1e6 / sec,
		Errors:      maps.Clone(s.errors),
		Histogram:   s.hist.bins(),
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	rep.LatencyUS.P50 = us(s.hist.quantile(0.50))
	rep.LatencyUS.P90 = us(s.hist.quantile(0.90))
	rep.LatencyUS.P99 = us(s.hist.quantile(0.99))
	rep.LatencyUS.Max = us(s.hist.max)
	return rep
}

func (rep *benchReport) errorSummary() string {
	var total int64
	keys := slices.Sorted(maps.Keys(rep.Errors))
	parts := make([]string, len(keys))
	for i, k := range keys {
		total += rep.Errors[k]
		parts[i] = fmt.Sprintf("%s: %d", k, rep.Errors[k])
	}
	if total == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// write prints the report for people.
func (rep *benchReport) write(w io.Writer) error {
	var b strings.Builder
	what := fmt.Sprintf("appends of %d x %d B", rep.Batch, rep.Size)
	switch rep.Mode {
	case benchRead:
		what = fmt.Sprintf("reads of up to %d records", rep.Batch)
	case benchMixed:
		what = fmt.Sprintf("appends of %d x %d B and reads of up to %d records", rep.Batch, rep.Size, rep.Batch)
	}
	fmt.Fprintf(&b, "evlog bench: %s, %s, %d clients x %d in flight, %.1fs\n",
		rep.Mode, what, rep.Clients, rep.Inflight, rep.Seconds)
	fmt.Fprintf(&b, "records    %12d  %12.0f records/s  %8.2f MB/s\n", rep.Records, rep.RecordsPerSecond, rep.MBPerSecond)
	if rep.Mode == benchMixed {
		fmt.Fprintf(&b, "           %12d appended, %d read\n", rep.Appended, rep.Read)
	}
	fmt.Fprintf(&b, "requests   %12d  %12.0f requests/s\n", rep.Requests, rep.RequestsPerSecond)
	fmt.Fprintf(&b, "errors     %s\n", rep.errorSummary())
	if rep.Requests > 0 {
		l := rep.LatencyUS
		fmt.Fprintf(&b, "latency    p50 %s  p90 %s  p99 %s  max %s\n", fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99), fmtUS(l.Max))
		b.WriteString("histogram  (requests answered within)\n")
		var most int64
		for _, bin := range rep.Histogram {
			most = max(most, bin.Count)
		}
		for _, bin := range rep.Histogram {
			bar := strings.Repeat("#", int((bin.Count*40+most-1)/most))
			fmt.Fprintf(&b, "  %8s  %-40s %6.2f%%  %d\n", fmtUS(bin.UpToUS), bar, float64(bin.Count)*100/float64(rep.Requests), bin.Count)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fmtUS shows microseconds in a readable unit.
func fmtUS(us float64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%.0fµs", us)
	case us < 1e6:
		return fmt.Sprintf("%.3gms", us/1e3)
	}
	return fmt.Sprintf("%.3gs", us/1e6)
}

// latencyHistogram counts durations in buckets at most 1/16 (6.25%) wide:
// durations below 32 ns each have a bucket; above, every power of two is
// split into 16 buckets, as HDR histograms do. It takes 8 KiB whatever the
// durations.
type latencyHistogram struct {
	counts [(64-latencySubBits)<<latencySubBits + 1<<latencySubBits]int64
	shown  [len(displayBounds)]int64 // the same durations on displayBounds
	total  int64
	max    time.Duration
}

const latencySubBits = 4

// displayBounds are the bounds of the summary's histogram, 1-2-5 from
// 10 µs to 100 s; the last bin also takes anything slower.
var displayBounds = func() (b [22]time.Duration) {
	d := 10 * time.Microsecond
	for i := range b {
		b[i] = d * []time.Duration{1, 2, 5}[i%3]
		if i%3 == 2 {
			d *= 10
		}
	}
	return b
}()

func latencyBucket(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 1<<(latencySubBits+1) {
		return int(v)
	}
	e := bits.Len64(v) - latencySubBits - 1
	return (e+1)<<latencySubBits + int(v>>e) - 1<<latencySubBits
}

// latencyBucketTop is the largest duration of bucket i.
func latencyBucketTop(i int) time.Duration {
	e := i>>latencySubBits - 1
	if e <= 0 {
		return time.Duration(i)
	}
	low := uint64(1<<latencySubBits+i&(1<<latencySubBits-1)) << e
	return time.Duration(low + 1<<e - 1)
}

func (h *latencyHistogram) add(d time.Duration) {
	h.counts[latencyBucket(d)]++
	bin, _ := slices.BinarySearch(displayBounds[:], d)
	h.shown[min(bin, len(h.shown)-1)]++
	h.total++
	h.max = max(h.max, d)
}

// quantile returns the top of the bucket holding the q-quantile, at most
// the largest duration seen.
func (h *latencyHistogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := int64(q*float64(h.total) + 0.999999)
	var seen int64
	for i, n := range h.counts {
		if seen += n; seen >= max(rank, 1) {
			return min(latencyBucketTop(i), h.max)
		}
	}
	return h.max
}

// bins returns the counts of the display bins, from the first that has
// any to the last.
func (h *latencyHistogram) bins() []benchBin {
	first := slices.IndexFunc(h.shown[:], func(n int64) bool { return n > 0 })
	if first < 0 {
		return nil
	}
	last := len(h.shown) - 1
	for h.shown[last] == 0 {
		last--
	}
	var bins []benchBin
	for i := first; i <= last; i++ {
		bins = append(bins, benchBin{UpToUS: float64(displayBounds[i] / time.Microsecond), Count: h.shown[i]})
	}
	return bins
}

// benchProgress shows how a run goes: a bar on a terminal, a plain line a
// second otherwise, both on stderr.
type benchProgress struct {
	w        io.Writer
	terminal bool
	o        benchOptions
}

func newBenchProgress(stderr io.Writer, o benchOptions) *benchProgress {
	p := &benchProgress{w: stderr, o: o}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.terminal = true
	}
	return p
}

// run reports progress until done is closed.
func (p *benchProgress) run(start time.Time, stats *benchStats, asked *atomic.Int64, done <-chan struct{}) {
	var bar *progressbar.ProgressBar
	period := time.Second
	if p.terminal {
		total := p.o.duration.Milliseconds()
		if p.o.records > 0 {
			total = p.o.records
		}
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
		period = 200 * time.Millisecond
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-done:
			if bar != nil {
				bar.Finish()
				bar.Clear()
			}
			return
		case <-tick.C:
		}
		records, errs := stats.snapshot()
		elapsed := time.Since(start)
		line := fmt.Sprintf("%d records, %.0f records/s, %d errors", records, float64(records)/elapsed.Seconds(), errs)
		if bar == nil {
			fmt.Fprintf(p.w, "evlog bench: %4.0fs %s\n", elapsed.Seconds(), line)
			continue
		}
		bar.Describe(line)
		if p.o.records > 0 {
			bar.Set64(min(asked.Load(), p.o.records))
		} else {
			bar.Set64(min(elapsed.Milliseconds(), p.o.duration.Milliseconds()))
		}
	}
}
