// Package memstore is an in-memory sdk.Store for tests and examples. It keeps
// the contract's semantics (compare-and-swap, ordered paginated listing) but
// nothing survives Close. Like every Store it assumes valid arguments: call it
// through sdk.Checked where they may not be.
package memstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"sync"

	"github.com/ALRubinger/aileron-store/sdk"
)

// Store is an in-memory sdk.Store. The zero value is not usable; call New.
type Store struct {
	mu     sync.RWMutex
	data   map[string]item
	closed bool
}

type item struct {
	value   []byte
	version sdk.Version
}

// New returns an empty Store.
func New() *Store { return &Store{data: make(map[string]item)} }

// Factory is an sdk.Factory for Store; it accepts only an empty config.
func Factory(_ context.Context, config map[string]string) (sdk.Store, error) {
	for k := range config {
		return nil, sdk.Errorf(sdk.ErrInvalidArgument, "config field %q: the memory store takes no configuration", k)
	}
	return New(), nil
}

var _ sdk.Store = (*Store)(nil)

func newVersion() sdk.Version {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("memstore: crypto/rand failed: " + err.Error())
	}
	return sdk.Version(hex.EncodeToString(b[:]))
}

func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed {
		return sdk.Errorf(sdk.ErrUnavailable, "memory store is closed")
	}
	return nil
}

// Get implements sdk.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, "", err
	}
	it, ok := s.data[key]
	if !ok {
		return nil, "", sdk.Errorf(sdk.ErrNotFound, "key %q", key)
	}
	return append([]byte{}, it.value...), it.version, nil
}

// Put implements sdk.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return "", err
	}
	if err := s.holds(key, cond); err != nil {
		return "", err
	}
	v := newVersion()
	s.data[key] = item{value: append([]byte{}, value...), version: v}
	return v, nil
}

// holds checks cond against the current state of key; s.mu must be held.
func (s *Store) holds(key string, cond sdk.Cond) error {
	it, ok := s.data[key]
	return sdk.CheckCond(key, cond, ok, it.version)
}

// Delete implements sdk.Store.
func (s *Store) Delete(ctx context.Context, key string, cond sdk.Cond) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := s.holds(key, cond); err != nil {
		return err
	}
	delete(s.data, key)
	return nil
}

// List implements sdk.Store.
func (s *Store) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return sdk.Page{}, err
	}
	keys := make([]string, 0, 64)
	for k := range s.data {
		if len(k) >= len(opts.Prefix) && k[:len(opts.Prefix)] == opts.Prefix && k > opts.StartAfter {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var page sdk.Page
	if len(keys) > opts.Limit {
		keys, page.More = keys[:opts.Limit], true
	}
	page.Entries = make([]sdk.Entry, len(keys))
	for i, k := range keys {
		it := s.data[k]
		page.Entries[i] = sdk.Entry{Key: k, Version: it.version}
		if opts.WithValues {
			page.Entries[i].Value = append([]byte{}, it.value...)
		}
	}
	return page, nil
}

// Close implements sdk.Store. It drops all data.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed, s.data = true, nil
	return nil
}

// Capabilities implements sdk.CapabilityReporter.
func (s *Store) Capabilities() sdk.Capabilities {
	return sdk.Capabilities{MaxValueSize: sdk.MaxValueSize, NativeListValues: true}
}
