// Package faultstore wraps an sdk.Store and fails its k-th mutating call
// (Put or Delete), either before the call takes effect or after it took
// effect, to simulate a crash of the process or a lost reply. From that call
// on, every call fails (the "process" is dead) until Disarm.
package faultstore

import (
	"context"
	"sync"

	"github.com/ALRubinger/aileron-store/sdk"
)

// Mode says when the injected fault happens.
type Mode uint8

const (
	// Before: the k-th mutation fails without taking effect.
	Before Mode = iota
	// After: the k-th mutation takes effect, then fails.
	After
)

func (m Mode) String() string {
	if m == After {
		return "after"
	}
	return "before"
}

// Store is a fault-injecting sdk.Store.
type Store struct {
	inner sdk.Store

	mu      sync.Mutex
	count   int // mutating calls seen
	failAt  int // 0 = never
	mode    Mode
	tripped bool
}

// New wraps inner with no fault armed.
func New(inner sdk.Store) *Store { return &Store{inner: inner} }

// Arm makes the k-th mutating call from now (k >= 1) fail in mode m, and
// resets the count and the tripped state.
func (s *Store) Arm(k int, m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count, s.failAt, s.mode, s.tripped = 0, k, m, false
}

// Disarm removes the fault; calls pass through again.
func (s *Store) Disarm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAt, s.tripped = 0, false
}

// Count returns the mutating calls seen since Arm (or New).
func (s *Store) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Tripped reports whether the fault fired.
func (s *Store) Tripped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tripped
}

func (s *Store) dead() error {
	return sdk.Errorf(sdk.ErrUnavailable, "faultstore: injected crash")
}

// mutate runs a mutating call under the fault plan.
func (s *Store) mutate(call func() error) error {
	s.mu.Lock()
	if s.tripped {
		s.mu.Unlock()
		return s.dead()
	}
	s.count++
	fire := s.failAt > 0 && s.count == s.failAt
	if fire {
		s.tripped = true
	}
	mode := s.mode
	s.mu.Unlock()
	if fire && mode == Before {
		return s.dead()
	}
	err := call()
	if fire {
		return s.dead()
	}
	return err
}

func (s *Store) read() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tripped {
		return s.dead()
	}
	return nil
}

// Get implements sdk.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	if err := s.read(); err != nil {
		return nil, "", err
	}
	return s.inner.Get(ctx, key)
}

// Put implements sdk.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	var v sdk.Version
	err := s.mutate(func() error {
		var err error
		v, err = s.inner.Put(ctx, key, value, cond)
		return err
	})
	if err != nil {
		return "", err
	}
	return v, nil
}

// Delete implements sdk.Store.
func (s *Store) Delete(ctx context.Context, key string, cond sdk.Cond) error {
	return s.mutate(func() error { return s.inner.Delete(ctx, key, cond) })
}

// List implements sdk.Store.
func (s *Store) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	if err := s.read(); err != nil {
		return sdk.Page{}, err
	}
	return s.inner.List(ctx, opts)
}

// Close implements sdk.Store.
func (s *Store) Close() error { return s.inner.Close() }

// Capabilities reports the inner store's. The wrapper does not implement
// sdk.Batcher, so batches reach the inner store item by item (each item a
// mutating call that a fault can hit): the crash test has no concurrent
// writer, so an atomic guard changes nothing it checks.
func (s *Store) Capabilities() sdk.Capabilities {
	if cr, ok := s.inner.(sdk.CapabilityReporter); ok {
		return cr.Capabilities()
	}
	return sdk.Capabilities{}
}
