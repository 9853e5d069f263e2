package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
)

// Bounds of checkCanceledWhileContended.
const (
	// contendedPrompt is how soon after its cancel a call must return.
	contendedPrompt = 2 * time.Second
	// contendedAfter is how long a plain Put may take once the contention
	// and the canceled calls are over: a store that kept the canceled calls
	// waiting (for its lock, a row, a connection) is still busy with them.
	contendedAfter = 10 * time.Second
)

// checkCanceledWhileContended has other clients write one key without pause
// (so the store's lock, the backend's row or its connections are taken)
// while a client calls Put on that key with contexts it cancels shortly
// after the call starts. Each canceled call must return within
// contendedPrompt of its cancel, with success (it finished first) or the
// context's error. Once the writers stop, a plain Put must finish within
// contendedAfter: calls that were canceled but kept waiting would hold it up.
func checkCanceledWhileContended(e *env) {
	const key = "contended/key"
	n := e.h.clients() / 8
	if n < 2 {
		n = 2
	}
	if n > 4 {
		n = 4
	}
	clients := e.clients(n + 1)
	e.mustPut(key, []byte("start"), sdk.None)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var writerErr error
	writes := 0
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 500; j++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := clients[i].Put(e.ctx, key, []byte(fmt.Sprintf("writer %d write %d", i, j)), sdk.None)
				mu.Lock()
				if err != nil && writerErr == nil && e.ctx.Err() == nil {
					writerErr = fmt.Errorf("writer %d: Put(%q): %v", i, key, err)
				}
				writes++
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	stopped := false
	stopWriters := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopWriters()

	// Let the writers get going.
	time.Sleep(50 * time.Millisecond)
	canceled := 0
	for i := 0; i < 8; i++ {
		ctx, cancel := context.WithCancel(e.ctx)
		delay := time.Duration(5+10*i) * time.Millisecond
		var at time.Time
		var atMu sync.Mutex
		timer := time.AfterFunc(delay, func() {
			atMu.Lock()
			at = time.Now()
			atMu.Unlock()
			cancel()
		})
		start := time.Now()
		_, err := clients[0].Put(ctx, key, []byte(fmt.Sprintf("canceled call %d", i)), sdk.None)
		end := time.Now()
		timer.Stop()
		cancel()
		atMu.Lock()
		canceledAt := at
		atMu.Unlock()
		if e.ctx.Err() != nil {
			e.fatalf("the check's own time ran out during canceled call %d", i)
		}
		switch {
		case err == nil:
			// It finished before (or as) it was canceled.
		case errors.Is(err, context.Canceled):
			canceled++
			if msg := kindMismatch(err, context.Canceled); msg != "" {
				e.fatalf("Put(%q) canceled after %v while %d clients wrote it: %s", key, delay, n, msg)
			}
		default:
			e.fatalf("Put(%q) canceled after %v while %d clients wrote it: %v, want success or an error wrapping %q", key, delay, n, err, context.Canceled)
		}
		if !canceledAt.IsZero() && end.Sub(canceledAt) > contendedPrompt {
			e.fatalf("Put(%q) canceled after %v while %d other clients wrote the key returned %v after the cancel (%v in all, error %v), want within %v: the store ignores the context while it waits (for a lock, a row or a connection)", key, delay, n, end.Sub(canceledAt).Round(time.Millisecond), end.Sub(start).Round(time.Millisecond), err, contendedPrompt)
		}
	}
	stopWriters()
	mu.Lock()
	werr, w := writerErr, writes
	mu.Unlock()
	if werr != nil {
		e.fatalf("%v", werr)
	}

	// Calls that were canceled but still wait inside the store would now
	// hold up a plain write.
	ctx, cancel := context.WithTimeout(e.ctx, contendedAfter)
	defer cancel()
	start := time.Now()
	if _, err := clients[0].Put(ctx, key, []byte("after"), sdk.None); err != nil {
		e.fatalf("Put(%q) after the contention ended, within %v: %v (calls canceled earlier are still waiting inside the store?)", key, contendedAfter, err)
	}
	e.wantValue(key, []byte("after"), "")
	e.logf("%d writers made %d writes; %d of 8 calls were canceled while waiting; a plain Put afterwards took %v", n, w, canceled, time.Since(start).Round(time.Millisecond))
}
