package filelock_test

import (
	"context"
	"errors"
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
