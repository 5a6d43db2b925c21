package raftlog

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/evlog/evlog/segment"
)

// ErrDamaged is the error of a node whose segment log holds damage that
// is not a torn tail. Open returns it when recovery left a damaged tail in
// a sealed segment; a Log fails with it (Failed, Err) when its scrub
// (runScrub), a read or an install stream finds a record that fails its
// checksum. Such a node must neither vote nor lead for long: a replica
// that serves, streams an install or re-applies from a log it cannot read
// back is how acknowledged records are lost when a minority's disks flip
// bits. It is repaired offline with evlog check, or by moving its
// directory aside so that the leader installs the log again.
var ErrDamaged = errors.New("the node's segment log is damaged")

// damageAdvice is what ErrDamaged tells an operator to do.
const damageAdvice = "this node stops and must not rejoin the cluster until repaired: " +
	"run evlog check --dir %s (--repair rebuilds indexes and cuts a torn tail; it never deletes records " +
	"that may be intact), or move %s aside so that the node starts empty and the leader installs the log again"

// Batch limits of the scrub: memory stays at about scrubBytes, or one
// record when a record is larger.
const (
	scrubRecords = 4096
	scrubBytes   = 1 << 20
)

// checkRecovered refuses, at open, a segment log in which recovery found
// damage it did not cut: a damaged tail left in a sealed segment. A torn
// tail of the active segment, which a crash leaves, recovery has cut
// already, and Raft's log brings back what the cut took.
func checkRecovered(seg *segment.Log, dir string) error {
	for _, r := range seg.Recovered() {
		if r.DamagedBytes > 0 {
			return damaged(dir, fmt.Errorf("%s has a damaged tail of %d bytes after offset %d",
				r.Store, r.DamagedBytes, r.BaseOffset+r.Records))
		}
	}
	return nil
}

// runScrub reads back every record the state machine held when the Log
// opened and verifies its checksum, one sequential pass, and fails the
// Log with ErrDamaged on the first damaged record; Close stops it.
//
// Recovery trusts a sealed segment's index without reading its store,
// so a bit flip inside one would otherwise surface only when a read or
// an install reaches it. The pass runs beside Raft rather than before
// it so that a node's start does not grow with the size of its log. What
// the node does meanwhile cannot spread the damage: its votes and its
// log matching are decided by Raft's own log (raft-wal, which checks its
// own frames), every read and every install stream verifies each record
// it sends and fails the Log on damage, and a failed Log hands its
// leadership away and the node stops (runLeadership, service/node).
func (l *Log) runScrub() {
	defer close(l.scrubbed)
	var end uint64
	_ = l.fsm.read(func(seg *segment.Log) error { end = seg.NextOffset(); return nil })
	buf := make([]byte, 0, scrubBytes)
	started := time.Now()
	for off := uint64(0); off < end; {
		select {
		case <-l.stop:
			return
		default:
		}
		next, err := l.scrubBatch(off, buf[:0])
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				err = damaged(l.cfg.Dir, err)
			}
			l.failure.Fail(err)
			return
		}
		off = next
	}
	l.logger.Debug("scrub of the segment log done: every record's checksum holds", "records", end, "took", time.Since(started))
}

// scrubBatch verifies the records from off on, a batch of them, and
// returns the offset to go on from. Records a truncation or an install
// removed meanwhile are skipped.
func (l *Log) scrubBatch(off uint64, buf []byte) (uint64, error) {
	next := off
	err := l.fsm.read(func(seg *segment.Log) error {
		low, err := seg.LowestOffset()
		if errors.Is(err, segment.ErrEmpty) || off >= seg.NextOffset() {
			next = max(off, seg.NextOffset())
			return nil
		}
		if err != nil {
			return err
		}
		if off < low {
			next = low
			return nil
		}
		b, err := seg.ReadRawBatch(off, scrubRecords, scrubBytes, buf)
		if errors.Is(err, segment.ErrRecordTooLarge) {
			// One record larger than the batch: Read verifies it too.
			_, err = seg.Read(off)
			next = off + 1
			return err
		}
		switch {
		case err != nil:
			return err
		case b.Damage != nil:
			return b.Damage
		case b.N == 0:
			return fmt.Errorf("scrub: no record read at offset %d below %d", off, seg.NextOffset())
		}
		next = off + uint64(b.N)
		return nil
	})
	return next, err
}

// damaged wraps the damage found with ErrDamaged and the advice.
func damaged(dir string, why error) error {
	return fmt.Errorf("%w: %w; "+damageAdvice, ErrDamaged, why, filepath.Join(dir, "log"), dir)
}

// damageGate fails the Log on a damaged record found once the state
// machine is open. During the open, checkRecovered reports what it finds
// as ErrDamaged itself, and the Log it would fail is never handed out.
type damageGate struct {
	armed atomic.Bool
	fail  func(error)
	dir   string // the node's directory, for the advice
}

// wrap returns cfg with an OnDamage that also fails the Log once the
// gate is armed: a damaged record found while the node runs (a read, a
// snapshot stream for an install) makes it stop taking writes and hand
// its leadership away (runLeadership), and a node watching Failed stops
// serving. The caller's OnDamage, if any, is told first.
func (g *damageGate) wrap(cfg segment.Config) segment.Config {
	report := cfg.OnDamage
	cfg.OnDamage = func(e *segment.DamageError) {
		if report != nil {
			report(e)
		}
		if g.armed.Load() {
			g.fail(damaged(g.dir, e))
		}
	}
	return cfg
}

// arm makes damage found from now on fail the Log.
func (g *damageGate) arm() { g.armed.Store(true) }
