package load

import (
	"testing"
	"time"
)

func TestLatencyHistogram(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 31, 32, 33, 1000, time.Millisecond, 3*time.Second + 7, 1<<63 - 1} {
		i := latencyBucket(d)
		if top := latencyBucketTop(i); top < d || (i > 0 && latencyBucketTop(i-1) >= d) {
			t.Fatalf("%v in bucket %d, whose top is %v (previous %v)", d, i, top, latencyBucketTop(i-1))
		}
		if top := latencyBucketTop(i); d > 32 && float64(top-d) > float64(d)/16 {
			t.Fatalf("bucket of %v reaches %v, more than 1/16 above", d, top)
		}
	}
	var h latencyHistogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.9, 900 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, time.Millisecond}} {
		got := h.quantile(q.q)
		if got < q.want || float64(got-q.want) > float64(q.want)/16 {
			t.Errorf("quantile %v = %v, want %v within 1/16", q.q, got, q.want)
		}
	}
	bins := h.bins()
	var n int64
	for _, b := range bins {
		n += b.Count
	}
	if n != 1000 || bins[0].UpToUS != 10 || bins[len(bins)-1].UpToUS != 1000 {
		t.Fatalf("bins %+v", bins)
	}
}
