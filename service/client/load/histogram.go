package load

import (
	"math/bits"
	"slices"
	"time"
)

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

// displayBounds are the bounds of the report's histogram, 1-2-5 from
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
func (h *latencyHistogram) bins() []Bin {
	first := slices.IndexFunc(h.shown[:], func(n int64) bool { return n > 0 })
	if first < 0 {
		return nil
	}
	last := len(h.shown) - 1
	for h.shown[last] == 0 {
		last--
	}
	var bins []Bin
	for i := first; i <= last; i++ {
		bins = append(bins, Bin{UpToUS: float64(displayBounds[i] / time.Microsecond), Count: h.shown[i]})
	}
	return bins
}
