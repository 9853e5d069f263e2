package conformance_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/conformance"
	"github.com/ALRubinger/aileron-store/sdk"
)

// faults are deliberate contract violations; the suite must catch each one.
type faults struct {
	contentVersions  bool  // version = hash of the value (the S3 ETag ABA bug)
	ignoreIfVersion  bool  // if-version treated as no condition
	dirOrder         bool  // List in directory-walk order (segment by segment)
	notFoundKind     error // kind of a missing-key error (default sdk.ErrNotFound)
	anonymousErrors  bool  // errors do not name the key
	ignoreCtx        bool  // canceled contexts are ignored
	listLag          bool  // List does not show the most recent Put
	truncateOver     int   // Get returns only the first n bytes of larger values
	deleteMissingErr bool  // unconditional Delete of a missing key is ErrNotFound
	sharedBuffers    bool  // Put retains the caller's slice
	prefixAsSegment  bool  // List prefix "a" lists only "a" and "a/..." (directory semantics)
	versionsFromZero bool  // versions are a counter per store instance (reset on reopen)
	forgetOnReopen   bool  // Reopen loses the data
	// slowWrites makes every Put hold a store-wide write lock that long (a
	// slow backend, or a row held in a transaction).
	slowWrites time.Duration
	// lockIgnoresCtx makes Put wait for that lock without watching its
	// context (sync.Mutex.Lock instead of a select on ctx.Done()).
	lockIgnoresCtx bool
	// slowPut makes Put wait until its context ends (a backend that needs
	// more time than the check has).
	slowPut bool
}

type faultyData struct {
	writeLock chan struct{} // held by a Put for faults.slowWrites
	wmu       sync.Mutex    // the same lock, for faults.lockIgnoresCtx

	mu     sync.Mutex
	data   map[string]faultyItem
	seq    int
	recent string
}

type faultyItem struct {
	value   []byte
	version sdk.Version
}

type faulty struct {
	f    *faults
	d    *faultyData
	seq  int // per-instance counter for versionsFromZero
	inst int
}

func (s *faulty) err(kind error, key, format string, args ...any) error {
	if s.f.anonymousErrors {
		return sdk.Errorf(kind, "something went wrong")
	}
	return sdk.Errorf(kind, "key %q: "+format, append([]any{key}, args...)...)
}

func (s *faulty) ctxErr(ctx context.Context) error {
	if s.f.ignoreCtx {
		return nil
	}
	return ctx.Err()
}

func (s *faulty) newVersion(value []byte) sdk.Version {
	if s.f.contentVersions {
		h := sha256.Sum256(value)
		return sdk.Version(hex.EncodeToString(h[:8]))
	}
	if s.f.versionsFromZero {
		s.seq++
		return sdk.Version(fmt.Sprint(s.seq))
	}
	s.d.seq++
	return sdk.Version(fmt.Sprintf("v%d", s.d.seq))
}

func (s *faulty) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	if err := s.ctxErr(ctx); err != nil {
		return nil, "", err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	it, ok := s.d.data[key]
	if !ok {
		kind := s.f.notFoundKind
		if kind == nil {
			kind = sdk.ErrNotFound
		}
		return nil, "", s.err(kind, key, "missing")
	}
	v := it.value
	if s.f.truncateOver > 0 && len(v) > s.f.truncateOver {
		v = v[:s.f.truncateOver]
	}
	return append([]byte{}, v...), it.version, nil
}

func (s *faulty) holds(key string, cond sdk.Cond) error {
	it, ok := s.d.data[key]
	switch cond.Mode() {
	case sdk.CondIfAbsent:
		if ok {
			return s.err(sdk.ErrConflict, key, "exists")
		}
	case sdk.CondIfVersion:
		if s.f.ignoreIfVersion {
			return nil
		}
		if !ok {
			return s.err(sdk.ErrNotFound, key, "missing")
		}
		if it.version != cond.Version() {
			return s.err(sdk.ErrConflict, key, "version")
		}
	}
	return nil
}

func (s *faulty) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	if err := s.ctxErr(ctx); err != nil {
		return "", err
	}
	if s.f.slowPut {
		<-ctx.Done()
		return "", ctx.Err()
	}
	if s.f.slowWrites > 0 {
		if s.f.lockIgnoresCtx {
			s.d.wmu.Lock()
			defer s.d.wmu.Unlock()
		} else {
			select {
			case s.d.writeLock <- struct{}{}:
				defer func() { <-s.d.writeLock }()
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		time.Sleep(s.f.slowWrites)
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	if err := s.holds(key, cond); err != nil {
		return "", err
	}
	v := s.newVersion(value)
	stored := append([]byte{}, value...)
	if s.f.sharedBuffers {
		stored = value
	}
	s.d.data[key] = faultyItem{value: stored, version: v}
	s.d.recent = key
	return v, nil
}

func (s *faulty) Delete(ctx context.Context, key string, cond sdk.Cond) error {
	if err := s.ctxErr(ctx); err != nil {
		return err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	if err := s.holds(key, cond); err != nil {
		return err
	}
	if _, ok := s.d.data[key]; !ok && s.f.deleteMissingErr {
		return s.err(sdk.ErrNotFound, key, "missing")
	}
	delete(s.d.data, key)
	return nil
}

func (s *faulty) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	if err := s.ctxErr(ctx); err != nil {
		return sdk.Page{}, err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	var keys []string
	for k := range s.d.data {
		if s.f.listLag && k == s.d.recent {
			continue
		}
		match := strings.HasPrefix(k, opts.Prefix)
		if s.f.prefixAsSegment && opts.Prefix != "" && !strings.HasSuffix(opts.Prefix, "/") {
			match = k == opts.Prefix || strings.HasPrefix(k, opts.Prefix+"/")
		}
		if match && k > opts.StartAfter {
			keys = append(keys, k)
		}
	}
	if s.f.dirOrder {
		sort.Slice(keys, func(i, j int) bool {
			return slices.Compare(strings.Split(keys[i], "/"), strings.Split(keys[j], "/")) < 0
		})
	} else {
		sort.Strings(keys)
	}
	var p sdk.Page
	if len(keys) > opts.Limit {
		keys, p.More = keys[:opts.Limit], true
	}
	for _, k := range keys {
		en := sdk.Entry{Key: k, Version: s.d.data[k].version}
		if opts.WithValues {
			en.Value = append([]byte{}, s.d.data[k].value...)
		}
		p.Entries = append(p.Entries, en)
	}
	return p, nil
}

func (s *faulty) Close() error { return nil }

func newFaultyData() *faultyData {
	return &faultyData{data: map[string]faultyItem{}, writeLock: make(chan struct{}, 1)}
}

func faultyHarness(f *faults) conformance.Harness {
	return conformance.Harness{
		New: func(context.Context) (sdk.Store, error) {
			return &faulty{f: f, d: newFaultyData()}, nil
		},
		Reopen: func(_ context.Context, s sdk.Store) (sdk.Store, error) {
			old := s.(*faulty)
			d := old.d
			if f.forgetOnReopen {
				d = newFaultyData()
			}
			return &faulty{f: f, d: d, inst: old.inst + 1}, nil
		},
		Gaps: map[string]string{"crash/kill-during-writes": "no process to kill"},
	}
}

// TestSuiteCatchesFaults runs the suite against stores that each break one
// rule of the contract, and wants the checks for that rule to fail. The
// fault-free store must pass everything, so a failure is due to the fault.
func TestSuiteCatchesFaults(t *testing.T) {
	cases := []struct {
		name     string
		f        faults
		mustFail []string
	}{
		{"none", faults{}, nil},
		{"content-versions", faults{contentVersions: true},
			[]string{"cas/identical-rewrite", "cas/recreate-new-version", "cas/versions-unique"}},
		{"ignore-if-version", faults{ignoreIfVersion: true},
			[]string{"cas/stale-version", "cas/if-version-missing-key", "cas/race-one-winner", "cas/identical-rewrite"}},
		{"directory-order", faults{dirOrder: true},
			[]string{"list/exact-order", "list/page-sizes", "list/start-after"}},
		{"not-found-as-unavailable", faults{notFoundKind: sdk.ErrUnavailable},
			[]string{"errors/not-found", "cas/delete-if-version"}},
		{"anonymous-errors", faults{anonymousErrors: true},
			[]string{"errors/not-found", "errors/conflict"}},
		{"ignore-ctx", faults{ignoreCtx: true},
			[]string{"errors/canceled", "errors/deadline-exceeded"}},
		{"list-lag", faults{listLag: true},
			[]string{"list/read-after-write", "roundtrip/empty-value"}},
		{"torn-read", faults{truncateOver: 100000},
			[]string{"roundtrip/max-value", "list/with-values", "list/with-values-large"}},
		{"delete-missing-error", faults{deleteMissingErr: true},
			[]string{"cas/delete-missing"}},
		{"shared-buffers", faults{sharedBuffers: true},
			[]string{"roundtrip/caller-owns-slices"}},
		{"prefix-as-segment", faults{prefixAsSegment: true},
			[]string{"list/prefix-isolation"}},
		{"versions-reset-on-reopen", faults{versionsFromZero: true},
			[]string{"durability/reopen-versions"}},
		{"forget-on-reopen", faults{forgetOnReopen: true},
			[]string{"durability/reopen-data", "durability/reopen-versions"}},
		{"lock-ignores-ctx", faults{slowWrites: time.Second, lockIgnoresCtx: true},
			[]string{"errors/canceled-while-contended"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := c.f
			// The fault-free store runs everything; a faulty one only the
			// checks that must catch its fault.
			var filter *regexp.Regexp
			if c.mustFail != nil {
				quoted := make([]string, len(c.mustFail))
				for i, n := range c.mustFail {
					quoted[i] = regexp.QuoteMeta(n)
				}
				filter = regexp.MustCompile("^(" + strings.Join(quoted, "|") + ")$")
			}
			results := conformance.RunChecks(t.Context(), faultyHarness(&f), filter)
			if c.mustFail != nil && len(results) != len(c.mustFail) {
				t.Fatalf("%d results for %d checks: a check name in this table is wrong", len(results), len(c.mustFail))
			}
			failed := map[string]string{}
			for _, r := range results {
				if r.Status == conformance.StatusFail {
					failed[r.Name] = r.Reason
				}
			}
			if c.mustFail == nil && len(failed) > 0 {
				t.Fatalf("the fault-free store fails %v", failed)
			}
			for _, name := range c.mustFail {
				if _, ok := failed[name]; !ok {
					t.Errorf("check %s passed a store with fault %q", name, c.name)
				} else {
					t.Logf("%s caught it: %s", name, failed[name])
				}
			}
		})
	}
}

// TestGapIsNeverPass declares a gap for a check the store passes and for one
// it fails: both report gap, neither pass nor fail.
func TestGapIsNeverPass(t *testing.T) {
	h := faultyHarness(&faults{contentVersions: true})
	h.Gaps["cas/create-if-absent"] = "emulator ignores if-absent"
	h.Gaps["cas/versions-unique"] = "emulator reuses ETags"
	results := conformance.RunChecks(t.Context(), h, regexp.MustCompile(`^cas/(create-if-absent|versions-unique)$`))
	if len(results) != 2 {
		t.Fatalf("got %d results, want 2", len(results))
	}
	for _, r := range results {
		if r.Status != conformance.StatusGap {
			t.Errorf("%s: status %s, want gap", r.Name, r.Status)
		}
		if !strings.HasPrefix(r.Reason, h.Gaps[r.Name]) {
			t.Errorf("%s: reason %q does not start with the declared gap", r.Name, r.Reason)
		}
	}
	if !strings.Contains(results[1].Reason, "fail") {
		t.Errorf("the gap of a failing check does not say it failed: %q", results[1].Reason)
	}
}

func TestUnknownGapIsHarnessError(t *testing.T) {
	h := faultyHarness(&faults{})
	h.Gaps["cas/no-such-check"] = "typo"
	results := conformance.RunChecks(t.Context(), h, nil)
	if len(results) != 1 || results[0].Status != conformance.StatusFail || !strings.Contains(results[0].Reason, "no-such-check") {
		t.Fatalf("results %+v, want one harness failure naming the unknown check", results)
	}
}

func TestRequireAllFailsSkips(t *testing.T) {
	h := conformance.Harness{
		New: func(context.Context) (sdk.Store, error) {
			return &faulty{f: &faults{}, d: &faultyData{data: map[string]faultyItem{}}}, nil
		},
		RequireAll: true,
	}
	results := conformance.RunChecks(t.Context(), h, regexp.MustCompile(`^(durability|crash)/`))
	if len(results) != 3 {
		t.Fatalf("got %d results, want 3", len(results))
	}
	for _, r := range results {
		if r.Status != conformance.StatusFail || !strings.Contains(r.Reason, "AILERON_REQUIRE_ALL_BACKENDS") {
			t.Errorf("%s: %s (%s), want fail under RequireAll", r.Name, r.Status, r.Reason)
		}
	}
	h.RequireAll = false
	t.Setenv("AILERON_REQUIRE_ALL_BACKENDS", "")
	for _, r := range conformance.RunChecks(t.Context(), h, regexp.MustCompile(`^(durability|crash)/`)) {
		if r.Status != conformance.StatusSkip {
			t.Errorf("%s: %s (%s), want skip", r.Name, r.Status, r.Reason)
		}
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	results := conformance.RunChecks(t.Context(), faultyHarness(&faults{contentVersions: true}), regexp.MustCompile(`^cas/`))
	if err := conformance.WriteTable(&b, results); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"CHECK", "cas/versions-unique", "FAIL", "PASS", "checks:", "failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !conformance.Failed(results) {
		t.Error("Failed(results) is false for a run with failures")
	}
}

func TestResultJSON(t *testing.T) {
	results := conformance.RunChecks(t.Context(), faultyHarness(&faults{contentVersions: true}), regexp.MustCompile(`^cas/versions-unique$`))
	b, err := json.Marshal(results)
	if err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 || back[0]["name"] != "cas/versions-unique" || back[0]["status"] != "fail" ||
		!strings.Contains(back[0]["reason"].(string), "already returned") || back[0]["duration_ns"] == nil {
		t.Fatalf("JSON %s lacks the name, status, reason or duration", b)
	}
}

// TestContendedStoreThatHonoursCtxPasses: the same slow, contended store as
// the "lock-ignores-ctx" fault, but waiting for its lock with a select on the
// context, passes errors/canceled-while-contended: the check fails the fault,
// not the contention.
func TestContendedStoreThatHonoursCtxPasses(t *testing.T) {
	t.Parallel()
	h := faultyHarness(&faults{slowWrites: 300 * time.Millisecond})
	results := conformance.RunChecks(t.Context(), h, regexp.MustCompile(`^errors/canceled-while-contended$`))
	if len(results) != 1 || results[0].Status != conformance.StatusPass {
		t.Fatalf("results %+v, want one pass", results)
	}
	t.Log(results[0].Log)
}

// TestCheckOutOfTimeSaysSo: a store slower than the check's time limit fails
// with a reason naming the check, its limit and the option that raises it,
// not with the store's context error alone.
func TestCheckOutOfTimeSaysSo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ option, want string }{
		{"", "conformance.Harness.Timeout"},
		{"--check-timeout", "--check-timeout"},
	} {
		h := faultyHarness(&faults{slowPut: true})
		h.Timeout = 300 * time.Millisecond
		h.TimeoutOption = tc.option
		results := conformance.RunChecks(t.Context(), h, regexp.MustCompile(`^cas/create-if-absent$`))
		if len(results) != 1 || results[0].Status != conformance.StatusFail {
			t.Fatalf("results %+v, want one failure", results)
		}
		r := results[0].Reason
		for _, want := range []string{"check cas/create-if-absent ran out of its time limit of 300ms", "give it more with " + tc.want, "deadline exceeded"} {
			if !strings.Contains(r, want) {
				t.Errorf("reason %q lacks %q", r, want)
			}
		}
	}
	// A check that fails in time is not called out of time.
	h := faultyHarness(&faults{contentVersions: true})
	h.Timeout = 30 * time.Second
	results := conformance.RunChecks(t.Context(), h, regexp.MustCompile(`^cas/versions-unique$`))
	if len(results) != 1 || results[0].Status != conformance.StatusFail || strings.Contains(results[0].Reason, "ran out") {
		t.Fatalf("results %+v, want a failure not blamed on time", results)
	}
}
