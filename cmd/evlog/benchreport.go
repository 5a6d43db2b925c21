package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/evlog/evlog/service/client/load"
)

// benchErrorSummary counts rep's errors: "0", or the total and each code's.
func benchErrorSummary(rep *load.Report) string {
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

// writeBenchText prints the report for people.
func writeBenchText(w io.Writer, rep *load.Report) error {
	var b strings.Builder
	what := fmt.Sprintf("appends of %d x %d B", rep.Batch, rep.Size)
	switch rep.Mode {
	case load.Read:
		what = fmt.Sprintf("reads of up to %d records", rep.Batch)
	case load.Mixed:
		what = fmt.Sprintf("appends of %d x %d B and reads of up to %d records", rep.Batch, rep.Size, rep.Batch)
	}
	fmt.Fprintf(&b, "evlog bench: %s, %s, %d clients x %d in flight, %.1fs\n",
		rep.Mode, what, rep.Clients, rep.Inflight, rep.Seconds)
	fmt.Fprintf(&b, "records    %12d  %12.0f records/s  %8.2f MB/s\n", rep.Records, rep.RecordsPerSecond, rep.MBPerSecond)
	if rep.Mode == load.Mixed {
		fmt.Fprintf(&b, "           %12d appended, %d read\n", rep.Appended, rep.Read)
	}
	fmt.Fprintf(&b, "requests   %12d  %12.0f requests/s\n", rep.Requests, rep.RequestsPerSecond)
	fmt.Fprintf(&b, "errors     %s\n", benchErrorSummary(rep))
	if rep.Requests > 0 {
		writeBenchLatency(&b, rep)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeBenchLatency prints the percentiles and the histogram of a report
// with answered requests.
func writeBenchLatency(b *strings.Builder, rep *load.Report) {
	l := rep.LatencyUS
	fmt.Fprintf(b, "latency    p50 %s  p90 %s  p99 %s  max %s\n", fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99), fmtUS(l.Max))
	b.WriteString("histogram  (requests answered within)\n")
	var most int64
	for _, bin := range rep.Histogram {
		most = max(most, bin.Count)
	}
	for _, bin := range rep.Histogram {
		bar := strings.Repeat("#", int((bin.Count*40+most-1)/most))
		fmt.Fprintf(b, "  %8s  %-40s %6.2f%%  %d\n", fmtUS(bin.UpToUS), bar, float64(bin.Count)*100/float64(rep.Requests), bin.Count)
	}
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
