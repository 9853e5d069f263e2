package gcs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/internal/written/writtentest"
	"github.com/ALRubinger/aileron-store/sdk"
)

func TestGetPutDelete(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()

	_, _, err := s.Get(ctx, "a/missing")
	wantKind(t, err, sdk.ErrNotFound, "Get of a missing key")
	if !strings.Contains(err.Error(), `"a/missing"`) {
		t.Fatalf("error %q does not name the key", err)
	}

	v1 := mustPut(t, s, "a/b", "one", sdk.None)
	mustGet(t, s, "a/b", "one", v1)
	// A rewrite of identical bytes gets a new version.
	v2 := mustPut(t, s, "a/b", "one", sdk.None)
	if v2 == v1 {
		t.Fatalf("rewrite of identical bytes kept version %q", v1)
	}
	mustGet(t, s, "a/b", "one", v2)

	// Empty and maximum-size values.
	ve := mustPut(t, s, "empty", "", sdk.None)
	mustGet(t, s, "empty", "", ve)
	big := bytes.Repeat([]byte{0xa5}, sdk.MaxValueSize)
	vb, err := s.Put(ctx, "big", big, sdk.None)
	if err != nil {
		t.Fatal(err)
	}
	got, gv, err := s.Get(ctx, "big")
	if err != nil || !bytes.Equal(got, big) || gv != vb {
		t.Fatalf("big value round trip: len %d, version %q/%q, %v", len(got), gv, vb, err)
	}

	// Put must not retain the caller's slice.
	buf := []byte("mutable")
	vm, err := s.Put(ctx, "m", buf, sdk.None)
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXXXX")
	mustGet(t, s, "m", "mutable", vm)

	if err := s.Delete(ctx, "a/b", sdk.None); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Get(ctx, "a/b")
	wantKind(t, err, sdk.ErrNotFound, "Get after Delete")
	// Deleting a missing key is not an error.
	if err := s.Delete(ctx, "a/b", sdk.None); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
}

func TestPutIfAbsent(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	v := mustPut(t, s, "k", "first", sdk.IfAbsent())
	_, err := s.Put(ctx, "k", []byte("second"), sdk.IfAbsent())
	wantKind(t, err, sdk.ErrConflict, "Put IfAbsent on an existing key")
	mustGet(t, s, "k", "first", v)
	// After a delete the key is absent again.
	if err := s.Delete(ctx, "k", sdk.None); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "k", "third", sdk.IfAbsent())
}

func TestPutIfVersion(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	v1 := mustPut(t, s, "k", "one", sdk.None)
	v2 := mustPut(t, s, "k", "two", sdk.IfVersion(v1))
	if v2 == v1 {
		t.Fatal("conditional write kept the version")
	}
	_, err := s.Put(ctx, "k", []byte("stale"), sdk.IfVersion(v1))
	wantKind(t, err, sdk.ErrConflict, "Put IfVersion with a stale version")
	mustGet(t, s, "k", "two", v2)
	// Versions that are no generation at all.
	for _, bad := range []sdk.Version{"abc", "-1", "0", "007", "99999999999999999999"} {
		_, err = s.Put(ctx, "k", []byte("bad"), sdk.IfVersion(bad))
		wantKind(t, err, sdk.ErrConflict, fmt.Sprintf("Put IfVersion(%q) on an existing key", bad))
		_, err = s.Put(ctx, "missing", []byte("bad"), sdk.IfVersion(bad))
		wantKind(t, err, sdk.ErrNotFound, fmt.Sprintf("Put IfVersion(%q) on a missing key", bad))
	}
	mustGet(t, s, "k", "two", v2)
	// IfVersion on a missing key is ErrNotFound and creates nothing.
	_, err = s.Put(ctx, "missing", []byte("x"), sdk.IfVersion(v2))
	wantKind(t, err, sdk.ErrNotFound, "Put IfVersion on a missing key")
	_, _, err = s.Get(ctx, "missing")
	wantKind(t, err, sdk.ErrNotFound, "Get after a failed Put IfVersion")
}

func TestDeleteIfVersion(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	err := s.Delete(ctx, "missing", sdk.IfVersion("123"))
	wantKind(t, err, sdk.ErrNotFound, "Delete IfVersion on a missing key")
	err = s.Delete(ctx, "missing", sdk.IfVersion("abc"))
	wantKind(t, err, sdk.ErrNotFound, "Delete IfVersion(abc) on a missing key")

	v1 := mustPut(t, s, "k", "one", sdk.None)
	err = s.Delete(ctx, "k", sdk.IfVersion("abc"))
	wantKind(t, err, sdk.ErrConflict, "Delete IfVersion(abc) on an existing key")
	mustGet(t, s, "k", "one", v1)
	if err := s.Delete(ctx, "k", sdk.IfVersion(v1)); err != nil {
		t.Fatalf("Delete IfVersion with the current version: %v", err)
	}
	_, _, err = s.Get(ctx, "k")
	wantKind(t, err, sdk.ErrNotFound, "Get after Delete IfVersion")
	// A stale version on delete: fake-gcs-server ignores ifGenerationMatch
	// on delete (see TestEmulatorGaps), so the conflict case is proven
	// against the wire in TestPreconditionsOnTheWire instead of here.
}

// Exactly one of many concurrent compare-and-swap writers from the same
// version wins; the others get ErrConflict and the winner's value stays.
func TestConcurrentCAS(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	v0 := mustPut(t, s, "ctr", "0", sdk.None)
	const n = 12
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		wins, conflicts  int
		winnerV, winnerB string
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			val := fmt.Sprintf("writer-%d", i)
			v, err := s.Put(ctx, "ctr", []byte(val), sdk.IfVersion(v0))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
				winnerV, winnerB = string(v), val
			case errors.Is(err, sdk.ErrConflict):
				conflicts++
			default:
				t.Errorf("writer %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 || conflicts != n-1 {
		t.Fatalf("%d wins and %d conflicts among %d CAS writers, want 1 and %d", wins, conflicts, n, n-1)
	}
	mustGet(t, s, "ctr", winnerB, sdk.Version(winnerV))

	// Same for IfAbsent on a fresh key.
	wins, conflicts = 0, 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := s.Put(ctx, "fresh", []byte(fmt.Sprint(i)), sdk.IfAbsent())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, sdk.ErrConflict):
				conflicts++
			default:
				t.Errorf("writer %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 || conflicts != n-1 {
		t.Fatalf("IfAbsent: %d wins and %d conflicts among %d writers", wins, conflicts, n)
	}
}

// listAll pages through the store with the given limit and returns the keys
// and the number of List calls.
func listAll(t *testing.T, s sdk.Store, prefix, after string, limit int) ([]string, int) {
	t.Helper()
	var keys []string
	calls := 0
	for {
		calls++
		if calls > 1000 {
			t.Fatal("listing does not end")
		}
		p, err := sdk.Checked(s).List(context.Background(), sdk.ListOptions{Prefix: prefix, StartAfter: after, Limit: limit})
		if err != nil {
			t.Fatalf("List(prefix %q, after %q, limit %d): %v", prefix, after, limit, err)
		}
		if len(p.Entries) > limit {
			t.Fatalf("page of %d entries over the limit %d", len(p.Entries), limit)
		}
		for _, e := range p.Entries {
			if e.Version == "" || e.Value != nil {
				t.Fatalf("entry %+v: want a version and no value", e)
			}
			keys = append(keys, e.Key)
			after = e.Key
		}
		if !p.More {
			return keys, calls
		}
	}
}

func expected(all []string, prefix, after string) []string {
	var out []string
	for _, k := range all {
		if strings.HasPrefix(k, prefix) && k > after {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func TestList(t *testing.T) {
	// The configured prefix isolates this store from other objects in the
	// bucket: a sibling store and a foreign object.
	srv := testenv.GCS(t)
	bucket := srv.NewBucket(t)
	s := openStore(t, map[string]string{KeyBucket: bucket, KeyEndpoint: srv.Endpoint, KeyPrefix: "tenant/a"})
	other := openStore(t, map[string]string{KeyBucket: bucket, KeyEndpoint: srv.Endpoint, KeyPrefix: "tenant/a-other/"})
	mustPut(t, other, "x/1", "other", sdk.None)
	mustPut(t, other, "a", "other", sdk.None)
	root := openStore(t, map[string]string{KeyBucket: bucket, KeyEndpoint: srv.Endpoint})

	keys := []string{"a", "a-b", "a.b", "a/b", "a/b/c", "a/c", "a0", "a_", "b", "b/a", "ba", "z", "z/z/z"}
	for i := 0; i < 20; i++ {
		keys = append(keys, fmt.Sprintf("many/%02d", i))
	}
	for _, k := range keys {
		mustPut(t, s, k, "v-"+k, sdk.None)
	}
	sort.Strings(keys)
	// An object under the store's prefix whose name is not a valid key is
	// skipped, not returned.
	rawUpload(t, srv.Endpoint, bucket, "tenant/a/Upper")
	rawUpload(t, srv.Endpoint, bucket, "tenant/a/dir/")
	// The root store sees the whole bucket, including the prefixes, but not
	// the names that are no keys.
	rootKeys, _ := listAll(t, root, "tenant/", "", 1000)
	if len(rootKeys) != len(keys)+2 {
		t.Fatalf("root store lists %d keys, want %d: %v", len(rootKeys), len(keys)+2, rootKeys)
	}

	for _, tc := range []struct{ prefix, after string }{
		{"", ""}, {"a", ""}, {"a/", ""}, {"a/b", ""}, {"many/", ""}, {"nothing/", ""},
		{"", "a"}, {"", "a/b"}, {"", "a/bb"}, {"", "zz"}, {"", "0"}, {"a/", "a"},
		{"a", "a-b"}, {"many/", "many/07"}, {"many/", "many/075"}, {"b", "a"},
		// Start-after values that are not keys.
		{"", "A"}, {"", "a\x00"}, {"", "a/b\x01"}, {"", "a/\xff"}, {"", "a{"}, {"", "a~"}, {"", "é"},
		{"", strings.Repeat("z", 512)},
	} {
		want := expected(keys, tc.prefix, tc.after)
		for _, limit := range []int{1, 2, 3, 7, 1000} {
			got, calls := listAll(t, s, tc.prefix, tc.after, limit)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("List(prefix %q, after %q, limit %d) = %v, want %v", tc.prefix, tc.after, limit, got, want)
			}
			if max := len(want)/limit + 2; calls > max {
				t.Fatalf("List(prefix %q, after %q, limit %d) took %d calls, want at most %d", tc.prefix, tc.after, limit, calls, max)
			}
		}
	}

	// A full page with nothing after it reports More=false; a page cut at
	// the limit reports More=true.
	p, err := sdk.Checked(s).List(context.Background(), sdk.ListOptions{Prefix: "many/", Limit: 20})
	if err != nil || len(p.Entries) != 20 || p.More {
		t.Fatalf("exact page: %d entries, more=%v, %v", len(p.Entries), p.More, err)
	}
	p, err = sdk.Checked(s).List(context.Background(), sdk.ListOptions{Prefix: "many/", Limit: 19})
	if err != nil || len(p.Entries) != 19 || !p.More {
		t.Fatalf("cut page: %d entries, more=%v, %v", len(p.Entries), p.More, err)
	}

	// Versions in a listing are what Get returns.
	p, err = sdk.Checked(s).List(context.Background(), sdk.ListOptions{Prefix: "a/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range p.Entries {
		_, v, err := s.Get(context.Background(), e.Key)
		if err != nil || v != e.Version {
			t.Fatalf("listed %q at %q, Get says %q (%v)", e.Key, e.Version, v, err)
		}
	}

	// Strong consistency after writes: a deleted key disappears, a new one
	// appears.
	if err := s.Delete(context.Background(), "a/c", sdk.None); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "a/d", "v-a/d", sdk.None)
	got, _ := listAll(t, s, "a/", "", 2)
	if strings.Join(got, ",") != "a/b,a/b/c,a/d" {
		t.Fatalf("after delete and put: %v", got)
	}
}

// rawUpload stores an object with any name, bypassing the store.
func rawUpload(t *testing.T, endpoint, bucket, name string) {
	t.Helper()
	resp, err := http.Post(endpoint+"/upload/storage/v1/b/"+bucket+"/o?uploadType=media&name="+url.QueryEscape(name), "application/octet-stream", strings.NewReader("foreign"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("raw upload of %q: HTTP %d", name, resp.StatusCode)
	}
}

func TestListWithValues(t *testing.T) {
	s, p, cfg := newProxiedStore(t, KeyMaxConcurrency, "3")
	other := openStore(t, directConfig(t, cfg)) // what s did not write, s reads
	ctx := context.Background()
	want := map[string]string{}
	for i := 0; i < 40; i++ {
		k := fmt.Sprintf("v/%02d", i)
		want[k] = strings.Repeat(fmt.Sprint(i), i)
		mustPut(t, other, k, want[k], sdk.None)
	}
	// Slow reads down a little so concurrency shows.
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, forward func()) bool {
		if r.Method == http.MethodGet && r.URL.Query().Get("alt") == "media" {
			time.Sleep(20 * time.Millisecond)
		}
		return false
	})
	p.reset()
	seen := 0
	err := sdk.Walk(ctx, s, "v/", true, func(e sdk.Entry) error {
		seen++
		if string(e.Value) != want[e.Key] {
			return fmt.Errorf("entry %q value %q, want %q", e.Key, e.Value, want[e.Key])
		}
		b, v, err := s.Get(ctx, e.Key)
		if err != nil || v != e.Version || !bytes.Equal(b, e.Value) {
			return fmt.Errorf("entry %q at %q differs from Get (%q, %v)", e.Key, e.Version, v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 40 {
		t.Fatalf("saw %d entries, want 40", seen)
	}
	if m := p.maxInflight.Load(); m > 3+1 || m < 2 {
		// +1: the Walk callback's own Get never overlaps a fill, but the
		// bound is on the fill's reads.
		t.Fatalf("max in-flight requests %d, want 2..4 with max_concurrency 3", m)
	}
	p.setIntercept(nil)

	// A key deleted between listing and reading is dropped; a key rewritten
	// in between comes with its new value and version.
	entries := []sdk.Entry{{Key: "v/01", Version: "1"}, {Key: "v/02", Version: "1"}, {Key: "v/03", Version: "1"}}
	if err := s.Delete(ctx, "v/02", sdk.None); err != nil {
		t.Fatal(err)
	}
	nv := mustPut(t, s, "v/03", "new", sdk.None)
	out, err := s.fill(ctx, entries)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Key != "v/01" || out[1].Key != "v/03" || string(out[1].Value) != "new" || out[1].Version != nv {
		t.Fatalf("fill after delete and rewrite: %+v", out)
	}
	if string(out[0].Value) != want["v/01"] || out[0].Version == "1" {
		t.Fatalf("fill did not take the read version: %+v", out[0])
	}
}

// TestListReadsOnlyWhatOthersWrote: a listing with values reads back no
// object this Store wrote (at the generation it wrote), and reads every
// object another client wrote over it, returning that client's value.
func TestListReadsOnlyWhatOthersWrote(t *testing.T) {
	a, p, cfg := newProxiedStore(t)
	b := openStore(t, directConfig(t, cfg))
	reads := func() int {
		n := 0
		for _, r := range p.recorded() {
			if r.Method == http.MethodGet && r.Query.Get("alt") == "media" {
				n++
			}
		}
		return n
	}
	writtentest.CheckListReads(t, a, b, p.reset, reads)
}

func TestMissingBucket(t *testing.T) {
	srv := testenv.GCS(t)
	_, err := New(context.Background(), map[string]string{KeyBucket: "no-such-bucket-here", KeyEndpoint: srv.Endpoint})
	wantKind(t, err, sdk.ErrInvalidArgument, "New with a missing bucket")
	if !strings.Contains(err.Error(), `"no-such-bucket-here"`) || !strings.Contains(err.Error(), `config field "bucket"`) {
		t.Fatalf("error %q does not name the bucket and the field", err)
	}
}

func TestUnreachableEndpoint(t *testing.T) {
	port := testenv.FreePort(t)
	ep := fmt.Sprintf("http://127.0.0.1:%d", port)
	start := time.Now()
	_, err := New(context.Background(), map[string]string{KeyBucket: "abc", KeyEndpoint: ep, KeyMaxRetries: "1", KeyTimeout: "10s"})
	wantKind(t, err, sdk.ErrUnavailable, "New with an unreachable endpoint")
	if !strings.Contains(err.Error(), ep) {
		t.Fatalf("error %q does not name the endpoint %s", err, ep)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("New took %v to report an unreachable endpoint", d)
	}

	// Via STORAGE_EMULATOR_HOST as well.
	t.Setenv(emulatorEnv, fmt.Sprintf("127.0.0.1:%d", port))
	_, err = New(context.Background(), map[string]string{KeyBucket: "abc", KeyMaxRetries: "0"})
	wantKind(t, err, sdk.ErrUnavailable, "New with an unreachable STORAGE_EMULATOR_HOST")
	if !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Fatalf("error %q does not name the endpoint", err)
	}
}

func TestSTORAGE_EMULATOR_HOST(t *testing.T) {
	srv := testenv.GCS(t)
	bucket := srv.NewBucket(t)
	t.Setenv(emulatorEnv, strings.TrimPrefix(srv.Endpoint, "http://"))
	s := openStore(t, map[string]string{KeyBucket: bucket})
	v := mustPut(t, s, "env/k", "via env", sdk.None)
	mustGet(t, s, "env/k", "via env", v)
}

func TestPermissionDenied(t *testing.T) {
	s, p, _ := newProxiedStore(t)
	ctx := context.Background()
	mustPut(t, s, "k", "v", sdk.None)
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, _ func()) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"error":{"code":403,"message":"caller does not have storage.objects.get access"}}`)
		return true
	})
	_, _, err := s.Get(ctx, "k")
	wantKind(t, err, sdk.ErrPermissionDenied, "Get answered 403")
	_, err = s.Put(ctx, "k", []byte("x"), sdk.IfAbsent())
	wantKind(t, err, sdk.ErrPermissionDenied, "Put answered 403")
	err = s.Delete(ctx, "k", sdk.None)
	wantKind(t, err, sdk.ErrPermissionDenied, "Delete answered 403")
	_, err = sdk.Checked(s).List(ctx, sdk.ListOptions{})
	wantKind(t, err, sdk.ErrPermissionDenied, "List answered 403")
	_, err = New(ctx, map[string]string{KeyBucket: "abc", KeyEndpoint: p.URL})
	wantKind(t, err, sdk.ErrPermissionDenied, "New answered 403")
	if !strings.Contains(err.Error(), `"abc"`) {
		t.Fatalf("error %q does not name the bucket", err)
	}
}

func TestContext(t *testing.T) {
	s, p, _ := newProxiedStore(t, KeyMaxRetries, "0")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.Get(ctx, "k")
	wantKind(t, err, context.Canceled, "Get with a canceled context")
	_, err = s.Put(ctx, "k", []byte("v"), sdk.None)
	wantKind(t, err, context.Canceled, "Put with a canceled context")
	err = s.Delete(ctx, "k", sdk.None)
	wantKind(t, err, context.Canceled, "Delete with a canceled context")
	_, err = sdk.Checked(s).List(ctx, sdk.ListOptions{WithValues: true})
	wantKind(t, err, context.Canceled, "List with a canceled context")

	// A deadline that passes while the backend is slow.
	mustPut(t, s, "k", "v", sdk.None)
	release := make(chan struct{})
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, forward func()) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return false
	})
	defer close(release)
	for name, op := range map[string]func(context.Context) error{
		"Get":    func(c context.Context) error { _, _, err := s.Get(c, "k"); return err },
		"Put":    func(c context.Context) error { _, err := s.Put(c, "k", []byte("w"), sdk.IfAbsent()); return err },
		"Delete": func(c context.Context) error { return s.Delete(c, "k", sdk.IfVersion("1")) },
		"List": func(c context.Context) error {
			_, err := sdk.Checked(s).List(c, sdk.ListOptions{WithValues: true})
			return err
		},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		err := op(ctx)
		cancel()
		wantKind(t, err, context.DeadlineExceeded, name+" past its deadline")
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("%s returned %v after its deadline", name, d)
		}
	}
}

// The configured timeout bounds a call even when the caller's context has
// no deadline; the error is then ErrUnavailable (the backend is too slow),
// not the caller's own deadline.
func TestConfiguredTimeout(t *testing.T) {
	s, p, _ := newProxiedStore(t, KeyTimeout, "300ms", KeyMaxRetries, "0")
	release := make(chan struct{})
	defer close(release)
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, forward func()) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return false
	})
	start := time.Now()
	_, _, err := s.Get(context.Background(), "k")
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("Get with a 300ms timeout: %v after %v", err, time.Since(start))
	}
	if sdk.Kind(err) != sdk.ErrUnavailable || !strings.Contains(err.Error(), "configured timeout") {
		t.Fatalf("Get past the configured timeout: %v", err)
	}
}

func TestClose(t *testing.T) {
	s, _ := newStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, _, err := s.Get(context.Background(), "k")
	if err == nil {
		t.Fatal("Get after Close succeeded")
	}
}

func TestCapabilities(t *testing.T) {
	s, _ := newStore(t)
	if c := s.Capabilities(); c.MaxValueSize != sdk.MaxValueSize || c.NativeListValues {
		t.Fatalf("capabilities %+v", c)
	}
}
