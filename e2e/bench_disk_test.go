package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A diskProbe measures what some processes write to disk while a
// benchmark runs: the bytes they send towards the block device
// (write_bytes of /proc/PID/io, counted when a page is dirtied, so
// rewriting a page already synced counts the whole page again) and,
// where perf can count the syscalls tracepoints, their fsync and
// fdatasync calls. Both are whole-process figures: everything the
// processes do in the window is counted, which is why a probe watches
// only processes that serve the target measured.
type diskProbe struct {
	pids []int

	// Set by start, cleared by stop.
	bytesBefore uint64
	perf        *exec.Cmd
	perfOut     string
	ctl, ack    *os.File // perf's control and acknowledgement pipes
	ackLines    *bufio.Reader
}

// diskFigures is what a probe measured between start and stop.
type diskFigures struct {
	bytes   uint64
	fsyncs  uint64
	counted bool // fsyncs holds a count (perf ran)
}

// writeBytes sums write_bytes of the probe's processes.
func (p *diskProbe) writeBytes(b *testing.B) uint64 {
	b.Helper()
	var sum uint64
	for _, pid := range p.pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
		if err != nil {
			b.Fatalf("read the io counters of %d: %v", pid, err)
		}
		n, err := ioField(data, "write_bytes")
		if err != nil {
			b.Fatalf("/proc/%d/io: %v", pid, err)
		}
		sum += n
	}
	return sum
}

// ioField returns the counter name of a /proc/PID/io file.
func ioField(data []byte, name string) (uint64, error) {
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return strconv.ParseUint(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s", name)
}

// perfEvents are the syscalls counted as syncs: Go's File.Sync is fsync,
// and fdatasync is counted in case a store uses it.
const perfEvents = "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync"

// start takes the counters' starting values. Without perf (or without
// the permission to count tracepoints) it counts bytes only.
func (p *diskProbe) start(b *testing.B) {
	b.Helper()
	if path, err := exec.LookPath("perf"); err == nil {
		p.startPerf(b, path)
	}
	p.bytesBefore = p.writeBytes(b)
}

// startPerf runs perf stat on the probe's processes with its counters
// disabled, and enables them through its control pipe once it has
// attached: the acknowledgement says counting has begun. A perf that
// cannot count leaves the probe counting bytes only.
func (p *diskProbe) startPerf(b *testing.B, path string) {
	b.Helper()
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	ackR, ackW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	pids := make([]string, len(p.pids))
	for i, pid := range p.pids {
		pids[i] = strconv.Itoa(pid)
	}
	p.perfOut = filepath.Join(b.TempDir(), "perf.csv")
	// ExtraFiles become fds 3 and 4 of perf.
	cmd := exec.Command(path, "stat", "-x", ",", "-e", perfEvents, "-D", "-1",
		"--control", "fd:3,4", "-o", p.perfOut, "-p", strings.Join(pids, ","))
	cmd.ExtraFiles = []*os.File{ctlR, ackW}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	ctlR.Close()
	ackW.Close()
	if err != nil {
		ctlW.Close()
		ackR.Close()
		return
	}
	p.perf, p.ctl, p.ack, p.ackLines = cmd, ctlW, ackR, bufio.NewReader(ackR)
	if err := p.command("enable"); err != nil {
		b.Logf("perf stat cannot count syncs here, counting bytes only: %v\n%s", err, stderr.Bytes())
		p.stopPerf()
	}
}

// command sends perf a control command and waits for its ack. A perf
// that exits (no permission, an unknown event) closes the pipe instead.
func (p *diskProbe) command(c string) error {
	if _, err := fmt.Fprintln(p.ctl, c); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		line, err := p.ackLines.ReadString('\n')
		// perf writes its ack with the string's terminating NUL, which
		// then leads the next line.
		if err == nil && strings.Trim(line, "\x00\n") != "ack" {
			err = fmt.Errorf("perf answered %q to %s", line, c)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		// Closing the pipes ends the reader goroutine.
		p.stopPerf()
		<-done
		return fmt.Errorf("perf did not acknowledge %s", c)
	}
}

// stopPerf ends perf stat, which writes its counts as it exits.
func (p *diskProbe) stopPerf() {
	if p.perf == nil {
		return
	}
	_ = p.perf.Process.Signal(syscall.SIGINT)
	_ = p.perf.Wait()
	p.ctl.Close()
	p.ack.Close()
	p.perf = nil
}

// stop returns what was written since start.
func (p *diskProbe) stop(b *testing.B) diskFigures {
	b.Helper()
	f := diskFigures{bytes: p.writeBytes(b) - p.bytesBefore}
	if p.perf == nil {
		return f
	}
	err := p.command("disable")
	p.stopPerf()
	if err != nil {
		b.Logf("perf stat: %v", err)
		return f
	}
	out, err := os.ReadFile(p.perfOut)
	if err != nil {
		b.Fatalf("read perf's counts: %v", err)
	}
	// perf writes "<not counted>" for an event it could not count.
	if f.fsyncs, err = perfSum(out); err != nil {
		b.Logf("perf stat counted no syncs: %v\n%s", err, out)
		return f
	}
	f.counted = true
	return f
}

// perfSum adds up the counts of perf stat -x , output: lines of
// value,unit,event,..., with comments starting with #.
func perfSum(out []byte) (uint64, error) {
	var sum uint64
	events := 0
	for line := range strings.SplitSeq(string(out), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		value, _, _ := strings.Cut(line, ",")
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("line %q: %w", line, err)
		}
		sum += n
		events++
	}
	if events == 0 {
		return 0, fmt.Errorf("no counts")
	}
	return sum, nil
}

// report reports the figures per acknowledged byte and per request:
// wbytes/B, bytes written to disk per record payload byte acknowledged,
// and fsyncs/req, syncs per acknowledged request, when they were counted.
func (f diskFigures) report(b *testing.B, payloadBytes, requests int) {
	if payloadBytes > 0 {
		b.ReportMetric(float64(f.bytes)/float64(payloadBytes), "wbytes/B")
	}
	if f.counted && requests > 0 {
		b.ReportMetric(float64(f.fsyncs)/float64(requests), "fsyncs/req")
	}
}

// TestDiskProbeParsers checks the readers of /proc/PID/io and of perf
// stat's CSV, on which the benchmark's disk figures rest.
func TestDiskProbeParsers(t *testing.T) {
	io := []byte("rchar: 10\nwchar: 20\nwrite_bytes: 4096\ncancelled_write_bytes: 0\n")
	if n, err := ioField(io, "write_bytes"); err != nil || n != 4096 {
		t.Errorf("write_bytes: %d, %v; want 4096", n, err)
	}
	if _, err := ioField(io, "read_bytes"); err == nil {
		t.Error("a missing field read without an error")
	}
	for _, tc := range []struct {
		name, out string
		want      uint64
		ok        bool
	}{
		{"both events", "# started on x\n\n12,,syscalls:sys_enter_fsync,100,100.00,,\n3,,syscalls:sys_enter_fdatasync,100,100.00,,\n", 15, true},
		{"not counted", "<not counted>,,syscalls:sys_enter_fsync,0,100.00,,\n", 0, false},
		{"empty", "# started on x\n", 0, false},
	} {
		got, err := perfSum([]byte(tc.out))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: got %d, %v; want %d (ok %v)", tc.name, got, err, tc.want, tc.ok)
		}
	}
}
