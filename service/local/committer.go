package local

import (
	"sync"

	"github.com/evlog/evlog/service"
)

// committer is the goroutine that commits queued appends in groups, one
// group at a time, in the order they were queued. It owns that goroutine:
// startCommitter starts it and close stops it, after committing what is
// queued.
type committer struct {
	commit func([]*service.Append)

	// mu guards the fields below; cond signals a change to any of them.
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*service.Append
	busy    bool // a group is being committed
	closing bool

	done chan struct{}
}

func startCommitter(commit func([]*service.Append)) *committer {
	c := &committer{commit: commit, done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	go c.run()
	return c
}

// enqueue queues a for the next group.
func (c *committer) enqueue(a *service.Append) {
	c.mu.Lock()
	c.queue = append(c.queue, a)
	c.mu.Unlock()
	c.cond.Broadcast()
}

// idle says whether nothing is queued or being committed. The caller
// holds the lock that serialises enqueue, so the answer holds until it
// queues.
func (c *committer) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue) == 0 && !c.busy
}

// drain returns once everything queued has been committed.
func (c *committer) drain() {
	c.mu.Lock()
	for len(c.queue) > 0 || c.busy {
		c.cond.Wait()
	}
	c.mu.Unlock()
}

// close commits what is queued and stops the goroutine.
func (c *committer) close() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.cond.Broadcast()
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	var batch []*service.Append
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closing {
			c.cond.Wait()
		}
		if len(c.queue) == 0 {
			c.mu.Unlock()
			return
		}
		// Swap the buffers: appends that come while this group commits
		// form the next one.
		batch, c.queue = c.queue, batch[:0]
		c.busy = true
		c.mu.Unlock()

		c.commit(batch)
		clear(batch)

		c.mu.Lock()
		c.busy = false
		c.mu.Unlock()
		c.cond.Broadcast()
	}
}
