package raftlog

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"

	"github.com/evlog/evlog/segment"
)

// ErrDamaged is returned by Open when the node's segment log holds damage
// that is not a torn tail: a record in a sealed segment, or in the middle
// of a store, that fails its checksum, or a damaged tail that recovery
// left in a sealed segment. A Log that finds a damaged record while it
// runs fails with it (Failed, Err). Such a node must neither vote nor
// lead: a replica that serves, streams in an install or re-applies from
// a log it cannot read back is how acknowledged records are lost when a
// minority's disks flip bits. It is repaired offline with evlog check,
// or by moving its directory aside so that the leader installs the log
// again.
var ErrDamaged = errors.New("the node's segment log is damaged")

// damageAdvice is what ErrDamaged tells an operator to do.
const damageAdvice = "this node does not start Raft, so it neither votes nor leads until repaired: " +
	"run evlog check --dir %s (--repair rebuilds indexes and cuts a torn tail; it never deletes records " +
	"that may be intact), or move %s aside so that the node starts empty and the leader installs the log again"

// Batch limits of the scan at open: memory stays at about
// verifyBytes, or one record when a record is larger.
const (
	verifyRecords = 4096
	verifyBytes   = 1 << 20
)

// verifyLog refuses a segment log that holds damage other than a torn
// tail, which recovery has already cut. Recovery trusts a sealed
// segment's index without reading its store, so a bit flip inside one
// would otherwise surface only when a read or an install reaches it,
// possibly while the node leads: every record is read back and its
// checksum verified, one sequential pass over the log, before Raft
// starts. dir is the node's directory, named in the advice.
func verifyLog(seg *segment.Log, dir string) error {
	for _, r := range seg.Recovered() {
		if r.DamagedBytes > 0 {
			return damaged(dir, fmt.Errorf("%s has a damaged tail of %d bytes after offset %d",
				r.Store, r.DamagedBytes, r.BaseOffset+r.Records))
		}
	}
	low, err := seg.LowestOffset()
	if err != nil {
		return err
	}
	buf := make([]byte, 0, verifyBytes)
	for off := low; off < seg.NextOffset(); {
		b, err := seg.ReadRawBatch(off, verifyRecords, verifyBytes, buf[:0])
		if errors.Is(err, segment.ErrRecordTooLarge) {
			// One record larger than the batch: Read verifies it too.
			if _, err = seg.Read(off); err == nil {
				off++
				continue
			}
		}
		if err != nil {
			return damaged(dir, err)
		}
		if b.Damage != nil {
			return damaged(dir, b.Damage)
		}
		if b.N == 0 {
			return fmt.Errorf("verify the log: no record read at offset %d below %d", off, seg.NextOffset())
		}
		off += uint64(b.N)
	}
	return nil
}

// damaged wraps what verifyLog found with ErrDamaged and the advice.
func damaged(dir string, why error) error {
	return fmt.Errorf("%w: %w; "+damageAdvice, ErrDamaged, why, filepath.Join(dir, "log"), dir)
}

// damageGate fails the Log on a damaged record found once the state
// machine is open. During the open, verifyLog reports what it finds as
// ErrDamaged itself, and the Log it would fail is never handed out.
type damageGate struct {
	armed atomic.Bool
	fail  func(error)
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
			g.fail(fmt.Errorf("%w: %w", ErrDamaged, e))
		}
	}
	return cfg
}

// arm makes damage found from now on fail the Log.
func (g *damageGate) arm() { g.armed.Store(true) }
