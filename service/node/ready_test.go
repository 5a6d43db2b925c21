package node

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/service/client"
)

// TestReadyzSteadyUnderLoad: under a steady stream of appends every
// node of a healthy cluster stays ready. A follower is always a moment
// behind the commit index it has just learned; that moment is not
// catching up, and a readiness probe that failed on it would take
// healthy nodes out of service at random.
func TestReadyzSteadyUnderLoad(t *testing.T) {
	nodes, _, c, retry := startClusterClient(t)
	for _, nd := range nodes {
		waitFor(t, 20*time.Second, nd.id+" ready", func() bool {
			code, _ := get(t, "http://"+nd.metrics+"/readyz")
			return code == http.StatusOK
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				_, err := c.AppendWith(ctx, []messages.Record{{Value: []byte("v")}}, client.WithID(fmt.Sprintf("w%d-%d", w, i)), retry)
				if err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		}()
	}
	notReady := map[string]int{}
	var last string
	for range 300 {
		for _, nd := range nodes {
			if code, body := get(t, "http://"+nd.metrics+"/readyz"); code != http.StatusOK {
				notReady[nd.id]++
				last = fmt.Sprintf("%s: %d %s", nd.id, code, body)
			}
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}
	if len(notReady) > 0 {
		t.Fatalf("healthy nodes reported not ready under load: %v (last: %s)", notReady, last)
	}
}
