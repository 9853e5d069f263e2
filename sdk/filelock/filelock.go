// Package filelock is a reader/writer lock shared by the goroutines of a
// process and by every process that opens the same lock file: flock(2) on
// the file, with waits that honour their context. A plugin that takes
// compare-and-swap from a lock rather than from its backend (a file store)
// holds it exclusively while it checks a condition and writes, and may hold
// it shared where it only needs a key not to change meanwhile (a batch's
// guard).
package filelock

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"

	"github.com/ALRubinger/aileron-store/sdk"
)

// Lock is a reader/writer lock on one lock file. Create it with Open.
//
// flock excludes open files, not goroutines sharing one, so the goroutines
// of a process take turns in process first: the flock is held exclusively
// while one goroutine holds Lock, and shared while any hold RLock. A
// goroutine waiting for Lock keeps new readers of this process out, so that
// a stream of readers cannot starve it here (flock itself promises no
// order between processes).
type Lock struct {
	f *os.File

	mu       sync.Mutex
	writer   bool          // a goroutine holds the flock exclusively, or is acquiring it
	readers  int           // goroutines holding the shared flock
	pending  bool          // a reader is acquiring the shared flock for the process
	waitingW int           // goroutines waiting to acquire exclusively
	changed  chan struct{} // closed (and replaced) on every change of the above
}

// Open opens (creating it 0600 if needed) the lock file at path.
func Open(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &Lock{f: f, changed: make(chan struct{})}, nil
}

// Lock waits until it holds the lock exclusively or ctx ends, and returns
// the function that releases it (call it once). When ctx ends first it
// returns ctx's error and does not hold the lock; a failing flock is an
// error wrapping sdk.ErrUnavailable.
func (l *Lock) Lock(ctx context.Context) (unlock func(), err error) {
	l.mu.Lock()
	l.waitingW++
	for l.writer || l.readers > 0 || l.pending {
		if err := l.waitLocked(ctx); err != nil {
			l.waitingW--
			l.broadcastLocked()
			l.mu.Unlock()
			return nil, err
		}
	}
	l.waitingW--
	l.writer = true
	l.mu.Unlock()

	release := func() {
		l.mu.Lock()
		l.writer = false
		l.broadcastLocked()
		l.mu.Unlock()
	}
	if err := l.flock(ctx, syscall.LOCK_EX, release); err != nil {
		return nil, err
	}
	return func() {
		flock(int(l.f.Fd()), syscall.LOCK_UN)
		release()
	}, nil
}

// RLock waits until it holds the lock shared or ctx ends, and returns the
// function that releases it (call it once). Any number of goroutines and
// processes hold it shared at once, none while one holds it exclusively.
// Errors are as for Lock.
func (l *Lock) RLock(ctx context.Context) (unlock func(), err error) {
	l.mu.Lock()
	for l.writer || l.waitingW > 0 || l.pending {
		if err := l.waitLocked(ctx); err != nil {
			l.mu.Unlock()
			return nil, err
		}
	}
	if l.readers > 0 {
		l.readers++ // the process holds the shared flock already
		l.mu.Unlock()
		return l.runlock, nil
	}
	l.pending = true
	l.mu.Unlock()

	release := func() {
		l.mu.Lock()
		l.pending = false
		l.broadcastLocked()
		l.mu.Unlock()
	}
	if err := l.flock(ctx, syscall.LOCK_SH, release); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.pending = false
	l.readers = 1
	l.broadcastLocked()
	l.mu.Unlock()
	return l.runlock, nil
}

func (l *Lock) runlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.readers--; l.readers == 0 {
		flock(int(l.f.Fd()), syscall.LOCK_UN)
	}
	l.broadcastLocked()
}

// flock takes the flock in mode how (LOCK_EX or LOCK_SH), waiting for
// other processes until ctx ends. On any failure the in-process claim is
// given up with release: at once, or, when ctx ends the wait, only once the
// abandoned flock call has returned (and the flock it got is released), so
// that no other goroutine of the process takes the flock on the same open
// file meanwhile.
func (l *Lock) flock(ctx context.Context, how int, release func()) error {
	fd := int(l.f.Fd())
	err := flock(fd, how|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		done := make(chan error, 1)
		go func() { done <- flock(fd, how) }()
		select {
		case err = <-done:
		case <-ctx.Done():
			go func() {
				if <-done == nil {
					flock(fd, syscall.LOCK_UN)
				}
				release()
			}()
			return ctx.Err()
		}
	}
	if err != nil {
		release()
		return sdk.Errorf(sdk.ErrUnavailable, "locking %s: %v", l.f.Name(), err)
	}
	return nil
}

// waitLocked waits, with l.mu held on entry and on return, until the state
// changes or ctx ends.
func (l *Lock) waitLocked(ctx context.Context) error {
	ch := l.changed
	l.mu.Unlock()
	var err error
	select {
	case <-ch:
	case <-ctx.Done():
		err = ctx.Err()
	}
	l.mu.Lock()
	return err
}

func (l *Lock) broadcastLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
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
