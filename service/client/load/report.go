package load

import (
	"maps"
	"sync"
	"time"
)

// Report is the result of a run. Its JSON is evlog bench --json's.
type Report struct {
	Mode     Mode `json:"mode"`
	Clients  int  `json:"clients"`
	Inflight int  `json:"inflight"`
	Batch    int  `json:"batch"`
	Size     int  `json:"size"`
	// Seconds is how long the run sent and awaited requests.
	Seconds float64 `json:"seconds"`
	// Requests, Records and Bytes count the requests answered without
	// error, and their records and bytes of values; Appended and Read
	// split Records by the kind of request.
	Requests          int64   `json:"requests"`
	Records           int64   `json:"records"`
	Appended          int64   `json:"appended"`
	Read              int64   `json:"read"`
	Bytes             int64   `json:"bytes"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	RecordsPerSecond  float64 `json:"records_per_second"`
	MBPerSecond       float64 `json:"mb_per_second"`
	// Errors counts the failed requests by the service's error code, or
	// by "timeout", "no responders", "bad reply" or "publish: ...".
	Errors map[string]int64 `json:"errors"`
	// LatencyUS are percentiles of the answered requests' latency, from
	// sending to decoding the reply, in microseconds.
	LatencyUS struct {
		P50 float64 `json:"p50"`
		P90 float64 `json:"p90"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"latency_us"`
	// Histogram bins the answered requests' latencies, 1-2-5 from 10 µs
	// to 100 s, from the first bin that has any to the last.
	Histogram []Bin `json:"histogram"`
}

// Bin counts the answered requests slower than the previous bin's bound
// and at most UpToUS microseconds.
type Bin struct {
	UpToUS float64 `json:"up_to_us"`
	Count  int64   `json:"count"`
}

// stats accumulates the outcome of every request of a run.
type stats struct {
	// mu guards the fields below.
	mu                      sync.Mutex
	requests, records, size int64 // answered without error
	appended, read          int64 // records, by kind of request
	errors                  map[string]int64
	hist                    latencyHistogram
}

func (s *stats) add(read bool, lat time.Duration, records, bytes int64, errKey string) {
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

func (s *stats) snapshot() (records, errs int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.errors {
		errs += n
	}
	return s.records, errs
}

func (s *stats) report(cfg Config, elapsed time.Duration) *Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := elapsed.Seconds()
	rep := &Report{
		Mode: cfg.Mode, Clients: cfg.Clients, Inflight: cfg.Inflight, Batch: cfg.Batch, Size: cfg.Size,
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
