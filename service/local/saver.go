package local

import (
	"path/filepath"

	"github.com/evlog/evlog/service/dedup"
)

// idsSaver saves the table of append ids each time the segment log rolls,
// and once after a start that read records to make it, so that a start
// after a crash loads it and reads only the records since, those of the
// active segment, rather than every record of the window.
// Its goroutine is the Log's: started by New, stopped by Close before
// Close saves the table one last time.
type idsSaver struct {
	due  chan struct{} // a roll happened; capacity 1
	stop chan struct{}
	done chan struct{}
	// base is the active segment's base offset when last looked at;
	// under the Log's mu.
	base uint64
	// buf is the last checkpoint's encoding, reused; saver goroutine.
	buf []byte
}

// startSaver starts l's saver. With now, it saves the table at once: New
// read records to make it, which a crash before the next roll would have
// the next start read again.
func (l *Log) startSaver(now bool) {
	l.saver = &idsSaver{
		due: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		base: l.seg.ActiveBase(),
	}
	if now {
		l.saver.due <- struct{}{}
	}
	go l.runSaver()
}

// noteRoll tells the saver when the segment log has rolled since it last
// looked. The caller holds mu, after a write.
func (l *Log) noteRoll() {
	s := l.saver
	if base := l.seg.ActiveBase(); base != s.base {
		s.base = base
		select {
		case s.due <- struct{}{}:
		default:
		}
	}
}

func (l *Log) runSaver() {
	defer close(l.saver.done)
	for {
		select {
		case <-l.saver.stop:
			return
		case <-l.saver.due:
			l.saveRolled()
		}
	}
}

// saveRolled encodes the table under mu, with the key of the segment log
// as it is at that moment, and writes it after releasing mu, so that
// appends wait for the encoding only.
func (l *Log) saveRolled() {
	l.mu.Lock()
	if l.closed || l.Err() != nil {
		l.mu.Unlock()
		return
	}
	key, err := dedup.KeyOf(l.seg)
	if err == nil {
		l.saver.buf = l.ids.AppendCheckpoint(l.saver.buf[:0], key)
	}
	l.mu.Unlock()
	if err == nil {
		err = dedup.WriteCheckpoint(filepath.Join(l.seg.Dir(), idsFile), l.saver.buf)
	}
	if err != nil {
		l.logger.Warn("append ids not saved at a segment roll; a start after a crash reads the window", "error", err)
	}
	if cap(l.saver.buf) > 64<<20 {
		l.saver.buf = nil
	}
}

// stopSaver stops the saver and waits for it, so that a save it was
// making cannot land after the one Close makes.
func (l *Log) stopSaver() {
	close(l.saver.stop)
	<-l.saver.done
}
