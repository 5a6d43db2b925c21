package node

import (
	"errors"
	"fmt"
	"os"

	"github.com/evlog/evlog/segment"
)

// openLog opens (and, after a crash, recovers) the log in Options.Dir:
// the segment log, or on a node of a cluster the replicated log.
func (n *node) openLog() error {
	_, err := os.Stat(n.o.Dir)
	n.newDir = errors.Is(err, os.ErrNotExist)
	if n.o.clustered() {
		return n.openRaftLog()
	}
	cfg := n.o.segmentConfig()
	cfg.OnDamage = n.damage.report
	cfg.OnRoll = n.onRoll
	cfg.OnRemove = n.onRemove
	l, err := segment.NewLog(n.o.Dir, cfg)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	n.log = l
	n.h.logOpen.Store(true)
	n.logger.Info("log open", "dir", l.Dir(), "sync", n.o.SyncMode.String(), "next_offset", l.NextOffset(),
		"retention_bytes", n.o.RetentionBytes, "retention_age", n.o.RetentionAge)
	return nil
}

// closeLog syncs and closes the log, joining a failure to *errp. A
// directory that this run created and never served from holds no record:
// it is removed, so that a failed start leaves nothing behind.
func (n *node) closeLog(errp *error) {
	n.h.stopping.Store(true)
	n.h.logOpen.Store(false)
	var err error
	if n.rlog != nil {
		err = n.rlog.Close()
	} else {
		err = n.log.Close()
	}
	if err != nil {
		*errp = errors.Join(*errp, fmt.Errorf("close log: %w", err))
		return
	}
	if n.newDir && !n.served {
		if err := os.RemoveAll(n.o.Dir); err != nil {
			*errp = errors.Join(*errp, fmt.Errorf("remove the log dir of a failed start: %w", err))
		}
	}
}
