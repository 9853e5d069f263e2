package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
)

// env is what a check runs with: its context, the harness and the store
// under test. Its fatalf and the must* helpers end the check; they may
// be called only from the check's own goroutine. Goroutines a check starts
// report through errors instead.
type env struct {
	ctx context.Context
	h   *Harness
	// s is the store under test as the checks call it: raw wrapped with
	// sdk.Checked, so that arguments are checked once, as Serve checks them
	// for a plugin. raw is what the harness made, for its Reopen, Kill and
	// Attach.
	s    sdk.Store
	raw  sdk.Store
	name string

	mu       sync.Mutex
	log      []string
	attached []sdk.Store
}

func (e *env) fatalf(format string, args ...any) {
	panic(failure{msg: fmt.Sprintf(format, args...)})
}

// logf records a progress note; safe from any goroutine.
func (e *env) logf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, fmt.Sprintf(format, args...))
}

func (e *env) takeLog() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.log
	e.log = nil
	return l
}

// rng returns a generator seeded from the check name, so that a run is
// reproducible.
func (e *env) rng() *rand.Rand {
	var seed uint64
	for _, c := range []byte(e.name) {
		seed = seed*131 + uint64(c)
	}
	return rand.New(rand.NewPCG(seed, 0x5eed))
}

// maxValue is the largest value the store under test accepts.
func (e *env) maxValue() int {
	return maxValueOf(e.s)
}

func maxValueOf(s sdk.Store) int {
	if cr, ok := s.(sdk.CapabilityReporter); ok {
		if m := cr.Capabilities().MaxValueSize; m > 0 && m <= sdk.MaxValueSize {
			return m
		}
	}
	return sdk.MaxValueSize
}

// clients returns n clients of the store's data: attached stores when the
// harness can make them, else s itself.
func (e *env) clients(n int) []sdk.Store {
	out := make([]sdk.Store, n)
	for i := range out {
		out[i] = e.s
		if e.h.Attach == nil || i == 0 {
			continue
		}
		a, err := e.h.Attach(e.ctx, e.raw)
		if err != nil {
			e.fatalf("harness Attach (client %d of %d): %v", i+1, n, err)
		}
		e.mu.Lock()
		e.attached = append(e.attached, a)
		e.mu.Unlock()
		out[i] = sdk.Checked(a)
	}
	return out
}

// reopen replaces the store under test with a reopened one.
func (e *env) reopen() {
	s, err := e.h.Reopen(e.ctx, e.raw)
	if err != nil {
		e.fatalf("harness Reopen: %v", err)
	}
	e.raw, e.s = s, sdk.Checked(s)
}

// kill ends the store under test abruptly with the harness's Kill.
func (e *env) kill() error { return e.h.Kill(e.raw) }

// cleanup deletes what the check left in the store and closes every store
// it used. Failures are logged: they do not change the check's result.
func (e *env) cleanup(parent context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 30*time.Second)
	defer cancel()
	var keys []string
	err := sdk.Walk(ctx, e.s, "", false, func(en sdk.Entry) error {
		keys = append(keys, en.Key)
		if len(keys) > 100000 {
			return errors.New("more than 100000 keys")
		}
		return nil
	})
	if err != nil {
		e.logf("cleanup: listing: %v", err)
	}
	for _, k := range keys {
		if err := e.s.Delete(ctx, k, sdk.None); err != nil {
			e.logf("cleanup: delete %q: %v", k, err)
			break
		}
	}
	for _, a := range e.attached {
		if err := a.Close(); err != nil {
			e.logf("cleanup: closing an attached client: %v", err)
		}
	}
	if err := e.s.Close(); err != nil {
		e.logf("cleanup: close: %v", err)
	}
}

// ---- store helpers that end the check on an unexpected error ----

func (e *env) mustPut(key string, value []byte, cond sdk.Cond) sdk.Version {
	v, err := e.s.Put(e.ctx, key, value, cond)
	if err != nil {
		e.fatalf("Put(%q, %d bytes, %v): %v", key, len(value), cond, err)
	}
	if v == "" {
		e.fatalf("Put(%q, %d bytes, %v) returned an empty version", key, len(value), cond)
	}
	return v
}

func (e *env) mustGet(key string) ([]byte, sdk.Version) {
	b, v, err := e.s.Get(e.ctx, key)
	if err != nil {
		e.fatalf("Get(%q): %v", key, err)
	}
	if v == "" {
		e.fatalf("Get(%q) returned an empty version", key)
	}
	return b, v
}

func (e *env) mustDelete(key string, cond sdk.Cond) {
	if err := e.s.Delete(e.ctx, key, cond); err != nil {
		e.fatalf("Delete(%q, %v): %v", key, cond, err)
	}
}

// wantValue ends the check unless key holds exactly want (and, when ver is
// not empty, at version ver).
func (e *env) wantValue(key string, want []byte, ver sdk.Version) {
	got, v := e.mustGet(key)
	if !bytes.Equal(got, want) {
		e.fatalf("Get(%q) = %s, want %s", key, describe(got), describe(want))
	}
	if ver != "" && v != ver {
		e.fatalf("Get(%q) version = %q, want %q (the version the last write returned)", key, v, ver)
	}
}

// wantMissing ends the check unless key is missing (Get is ErrNotFound).
func (e *env) wantMissing(key string) {
	b, _, err := e.s.Get(e.ctx, key)
	if err == nil {
		e.fatalf("Get(%q) = %s, want not found", key, describe(b))
	}
	e.wantKind(err, sdk.ErrNotFound, fmt.Sprintf("Get(%q)", key))
}

// listAll lists every key under prefix with the given page size and returns
// the entries, checking page order and limits on the way.
func (e *env) listAll(s sdk.Store, prefix string, limit int, withValues bool) []sdk.Entry {
	var all []sdk.Entry
	opts := sdk.ListOptions{Prefix: prefix, Limit: limit, WithValues: withValues}
	for pages := 0; ; pages++ {
		if pages > 10000 {
			e.fatalf("List(prefix %q, limit %d) did not end after %d pages", prefix, limit, pages)
		}
		p, err := s.List(e.ctx, opts)
		if err != nil {
			e.fatalf("List(prefix %q, start-after %q, limit %d): %v", prefix, opts.StartAfter, limit, err)
		}
		if limit > 0 && len(p.Entries) > limit {
			e.fatalf("List(prefix %q, limit %d) returned %d entries, more than the limit", prefix, limit, len(p.Entries))
		}
		for _, en := range p.Entries {
			if en.Key <= opts.StartAfter && (opts.StartAfter != "" || en.Key == "") {
				e.fatalf("List(prefix %q, start-after %q) returned key %q, not after start-after", prefix, opts.StartAfter, en.Key)
			}
			if !strings.HasPrefix(en.Key, prefix) {
				e.fatalf("List(prefix %q) returned key %q outside the prefix", prefix, en.Key)
			}
			if en.Version == "" {
				e.fatalf("List(prefix %q) returned key %q with an empty version", prefix, en.Key)
			}
			opts.StartAfter = en.Key
			all = append(all, en)
		}
		if !p.More {
			return all
		}
	}
}

func keysOf(entries []sdk.Entry) []string {
	out := make([]string, len(entries))
	for i, en := range entries {
		out[i] = en.Key
	}
	return out
}

// wantKind ends the check unless err wraps exactly the sentinel want among
// the contract's error kinds.
func (e *env) wantKind(err, want error, what string) {
	if msg := kindMismatch(err, want); msg != "" {
		e.fatalf("%s: %s", what, msg)
	}
}

var allKinds = []error{
	context.Canceled, context.DeadlineExceeded,
	sdk.ErrNotFound, sdk.ErrConflict, sdk.ErrInvalidArgument, sdk.ErrUnavailable, sdk.ErrPermissionDenied,
}

// kindMismatch returns "" when err wraps want and no other error kind of the
// contract, else a description of what is wrong.
func kindMismatch(err, want error) string {
	if err == nil {
		return fmt.Sprintf("returned no error, want an error wrapping %q", want)
	}
	if !errors.Is(err, want) {
		return fmt.Sprintf("error %q does not wrap %q (errors.Is is false)", err, want)
	}
	for _, k := range allKinds {
		if k != want && errors.Is(err, k) {
			return fmt.Sprintf("error %q wraps both %q and %q; it must wrap exactly one kind", err, want, k)
		}
	}
	return ""
}

// describe summarises a value for a failure message without dumping it.
func describe(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	if len(b) <= 32 {
		return fmt.Sprintf("%d bytes %q", len(b), b)
	}
	return fmt.Sprintf("%d bytes %q...", len(b), b[:32])
}

// randomBytes returns n pseudo-random bytes from r.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		x := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(x >> (8 * j))
		}
	}
	return b
}

// parallel runs fn(0..n-1) at once, starting them together, and returns
// their errors.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("panic: %v", r)
				}
			}()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}
