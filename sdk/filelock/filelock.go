// Package filelock is an exclusive lock shared by the goroutines of a process
// and by every process that opens the same lock file: flock(2) on the file,
// with a wait that honours its context. A plugin that takes compare-and-swap
// from a lock rather than from its backend (a file store) holds one while it
// checks a condition and writes.
package filelock

import (
	"context"
	"errors"
	"os"
	"syscall"

	"github.com/ALRubinger/aileron-store/sdk"
)

// Lock is an exclusive lock on one lock file. Create it with Open.
type Lock struct {
	f *os.File
	// sem holds one token while a goroutine of this process holds (or is
	// still acquiring) the flock: flock excludes open files, not goroutines
	// sharing one.
	sem chan struct{}
}

// Open opens (creating it 0600 if needed) the lock file at path.
func Open(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &Lock{f: f, sem: make(chan struct{}, 1)}, nil
}

// Lock waits until it holds the lock or ctx ends, and returns the function
// that releases it (call it once). When ctx ends first it returns ctx's error
// and does not hold the lock; a failing flock is an error wrapping
// sdk.ErrUnavailable.
func (l *Lock) Lock(ctx context.Context) (unlock func(), err error) {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	fd := int(l.f.Fd())
	err = flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		// Held by another process: wait for it in a goroutine, so that ctx
		// can end the wait. An abandoned wait releases the lock as soon as
		// it gets it.
		done := make(chan error, 1)
		go func() { done <- flock(fd, syscall.LOCK_EX) }()
		select {
		case err = <-done:
		case <-ctx.Done():
			go func() {
				if <-done == nil {
					flock(fd, syscall.LOCK_UN)
				}
				<-l.sem
			}()
			return nil, ctx.Err()
		}
	}
	if err != nil {
		<-l.sem
		return nil, sdk.Errorf(sdk.ErrUnavailable, "locking %s: %v", l.f.Name(), err)
	}
	return func() {
		flock(fd, syscall.LOCK_UN)
		<-l.sem
	}, nil
}

// Close closes the lock file, releasing the lock if it is held.
func (l *Lock) Close() error { return l.f.Close() }

// flock is syscall.Flock retried on EINTR.
func flock(fd, how int) error {
	for {
		if err := syscall.Flock(fd, how); err != syscall.EINTR {
			return err
		}
	}
}
