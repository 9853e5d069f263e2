package filelock_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/sdk/filelock"
)

func open(t *testing.T, path string) *filelock.Lock {
	t.Helper()
	l, err := filelock.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Goroutines sharing one Lock, and two Locks on the same file (two open
// files, as two processes have), exclude each other.
func TestLockExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	locks := []*filelock.Lock{open(t, path), open(t, path)}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		holders int
		max     int
	)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				unlock, err := locks[i%2].Lock(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				holders++
				max = maxInt(max, holders)
				mu.Unlock()
				time.Sleep(10 * time.Microsecond)
				mu.Lock()
				holders--
				mu.Unlock()
				unlock()
			}
		}()
	}
	wg.Wait()
	if max != 1 {
		t.Fatalf("%d holders at once, want 1", max)
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// A wait ends with its context, both for a goroutine of this process and for
// another open file of the lock, and an abandoned wait leaves the lock free.
func TestLockHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	a, b := open(t, path), open(t, path)
	unlock, err := a.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]*filelock.Lock{"same lock": a, "other open file": b} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		start := time.Now()
		_, err := l.Lock(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: Lock while held = %v, want the context's deadline", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%s: Lock returned %v after its deadline", name, d)
		}
	}
	unlock()
	for name, l := range map[string]*filelock.Lock{"a": a, "b": b} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		u, err := l.Lock(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: Lock after the release: %v (an abandoned wait kept the lock)", name, err)
		}
		u()
	}
}

// Readers share the lock, within a process and across open files: all of
// them hold it at once.
func TestRLockShares(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	locks := []*filelock.Lock{open(t, path), open(t, path)}
	const readers = 6
	var all sync.WaitGroup
	all.Add(readers)
	errs := make(chan error, readers)
	for i := range readers {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			unlock, err := locks[i%2].RLock(ctx)
			if err != nil {
				errs <- err
				all.Done()
				return
			}
			all.Done()
			all.Wait() // every reader holds the lock now
			unlock()
			errs <- nil
		}()
	}
	for range readers {
		if err := <-errs; err != nil {
			t.Fatalf("RLock while only readers hold the lock: %v", err)
		}
	}
}

// A writer excludes readers and other writers, within a process and across
// open files, while readers overlap.
func TestRWExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	locks := []*filelock.Lock{open(t, path), open(t, path)}
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		readers, writers int
		bad              string
	)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			writer := i%3 == 0
			for range 60 {
				lock := locks[i%2].RLock
				if writer {
					lock = locks[i%2].Lock
				}
				unlock, err := lock(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if writer {
					writers++
				} else {
					readers++
				}
				if writers > 1 || writers == 1 && readers > 0 {
					bad = fmt.Sprintf("%d writers and %d readers at once", writers, readers)
				}
				mu.Unlock()
				time.Sleep(20 * time.Microsecond)
				mu.Lock()
				if writer {
					writers--
				} else {
					readers--
				}
				mu.Unlock()
				unlock()
			}
		}()
	}
	wg.Wait()
	if bad != "" {
		t.Fatal(bad)
	}
}

// Waits between readers and writers end with their context, and an
// abandoned wait leaves the lock as it was.
func TestRWHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	a, b := open(t, path), open(t, path)
	expire := func(name string, lock func(context.Context) (func(), error)) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s = %v, want the context's deadline", name, err)
		}
	}
	unlock, err := a.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	expire("RLock of the same lock while it is held exclusively", a.RLock)
	expire("RLock of another open file while it is held exclusively", b.RLock)
	unlock()

	runlock, err := a.RLock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	expire("Lock of the same lock while it is held shared", a.Lock)
	expire("Lock of another open file while it is held shared", b.Lock)
	// The abandoned Lock of a no longer keeps readers of a out.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	r2, err := a.RLock(ctx)
	cancel()
	if err != nil {
		t.Fatalf("RLock beside a reader after an abandoned Lock: %v", err)
	}
	r2()
	runlock()

	for name, l := range map[string]*filelock.Lock{"a": a, "b": b} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		u, err := l.Lock(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: Lock after the readers left: %v (an abandoned wait kept the lock)", name, err)
		}
		u()
	}
}

// A goroutine waiting for Lock is not starved by readers of its process
// that keep overlapping: new readers wait behind it.
func TestLockNotStarvedByReaders(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "lock"))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				unlock, err := l.RLock(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
				unlock()
			}
		}()
	}
	time.Sleep(10 * time.Millisecond) // the readers overlap by now
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	unlock, err := l.Lock(ctx)
	cancel()
	close(stop)
	if err != nil {
		t.Fatalf("Lock among overlapping readers: %v", err)
	}
	unlock()
	wg.Wait()
}
