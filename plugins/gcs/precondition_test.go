package gcs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
)

// The plugin sends a generation precondition with every conditional write
// and delete. This is what makes the service enforce compare-and-swap, and
// it is proven here on the wire because the emulator does not enforce the
// delete precondition (see TestEmulatorGaps).
func TestPreconditionsOnTheWire(t *testing.T) {
	s, p, cfg := newProxiedStore(t)
	ctx := context.Background()
	bucket := cfg[KeyBucket]

	onlyRequest := func(method, object string) recordedRequest {
		t.Helper()
		var hits []recordedRequest
		for _, r := range p.recorded() {
			if r.Method != method {
				continue
			}
			// Uploads name the object in the query, others in the path.
			if strings.HasSuffix(r.Path, "/o/"+object) || r.Query.Get("name") == object {
				hits = append(hits, r)
			}
		}
		if len(hits) != 1 {
			t.Fatalf("%d %s requests for %q, want 1: %+v", len(hits), method, object, p.recorded())
		}
		return hits[0]
	}

	p.reset()
	v1 := mustPut(t, s, "k", "one", sdk.IfAbsent())
	r := onlyRequest(http.MethodPost, "k")
	if !strings.Contains(r.Path, "/upload/storage/v1/b/"+bucket+"/o") || r.Query.Get("ifGenerationMatch") != "0" {
		t.Fatalf("Put IfAbsent sent %s %s?%s, want an upload with ifGenerationMatch=0", r.Method, r.Path, r.Query.Encode())
	}

	p.reset()
	v2 := mustPut(t, s, "k", "two", sdk.IfVersion(v1))
	r = onlyRequest(http.MethodPost, "k")
	if r.Query.Get("ifGenerationMatch") != string(v1) {
		t.Fatalf("Put IfVersion(%s) sent ifGenerationMatch=%q", v1, r.Query.Get("ifGenerationMatch"))
	}

	p.reset()
	mustPut(t, s, "u", "plain", sdk.None)
	r = onlyRequest(http.MethodPost, "u")
	if r.Query.Has("ifGenerationMatch") {
		t.Fatalf("an unconditional Put sent ifGenerationMatch=%q", r.Query.Get("ifGenerationMatch"))
	}

	// Delete IfVersion sends ifGenerationMatch. The proxy now enforces it
	// the way GCS does (412 when the live generation differs), so the
	// conflict path is exercised against the service's real answer.
	var delete412 atomic.Int32
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, forward func()) bool {
		if r.Method != http.MethodDelete || !r.URL.Query().Has("ifGenerationMatch") {
			return false
		}
		want := r.URL.Query().Get("ifGenerationMatch")
		live, found := liveGeneration(t, testenv.GCS(t).Endpoint, r.URL.Path)
		if found && strconv.FormatInt(live, 10) != want {
			delete412.Add(1)
			gcsError(w, http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold.")
			return true
		}
		return false
	})
	p.reset()
	err := s.Delete(ctx, "k", sdk.IfVersion(v1))
	wantKind(t, err, sdk.ErrConflict, "Delete IfVersion with a stale version (service enforcing)")
	r = onlyRequest(http.MethodDelete, "k")
	if r.Query.Get("ifGenerationMatch") != string(v1) {
		t.Fatalf("Delete IfVersion(%s) sent ifGenerationMatch=%q", v1, r.Query.Get("ifGenerationMatch"))
	}
	if r.Query.Get("generation") != string(v1) {
		t.Fatalf("Delete IfVersion(%s) on a bucket without versioning sent generation=%q, want the version's generation", v1, r.Query.Get("generation"))
	}
	if delete412.Load() != 1 {
		t.Fatal("the enforcing proxy did not answer 412")
	}
	mustGet(t, s, "k", "two", v2)

	p.reset()
	if err := s.Delete(ctx, "k", sdk.IfVersion(v2)); err != nil {
		t.Fatalf("Delete IfVersion with the live version: %v", err)
	}
	if onlyRequest(http.MethodDelete, "k").Query.Get("ifGenerationMatch") != string(v2) {
		t.Fatal("Delete IfVersion did not send the live generation")
	}

	p.reset()
	if err := s.Delete(ctx, "u", sdk.None); err != nil {
		t.Fatal(err)
	}
	if onlyRequest(http.MethodDelete, "u").Query.Has("ifGenerationMatch") {
		t.Fatal("an unconditional Delete sent ifGenerationMatch")
	}

	// GCS may answer 412 (not 404) to a conditional request on a missing
	// object; the store then tells ErrNotFound from ErrConflict itself.
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, forward func()) bool {
		if r.URL.Query().Has("ifGenerationMatch") {
			gcsError(w, http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold.")
			return true
		}
		return false
	})
	err = s.Delete(ctx, "gone", sdk.IfVersion(v2))
	wantKind(t, err, sdk.ErrNotFound, "Delete IfVersion on a missing key answered 412")
	_, err = s.Put(ctx, "gone", []byte("x"), sdk.IfVersion(v2))
	wantKind(t, err, sdk.ErrNotFound, "Put IfVersion on a missing key answered 412")
	mustPut(t, s, "here", "x", sdk.None) // unconditional: not intercepted
	err = s.Delete(ctx, "here", sdk.IfVersion("1"))
	wantKind(t, err, sdk.ErrConflict, "Delete IfVersion on an existing key answered 412")
}

// On a bucket without versioning Delete IfVersion names the generation, so
// the emulator, which ignores ifGenerationMatch on delete, enforces it
// exactly; on a versioned bucket (where naming a generation would delete a
// version for good) it sends the precondition alone.
func TestDeleteNamesGenerationByVersioning(t *testing.T) {
	ctx := context.Background()
	srv := testenv.GCS(t)
	for _, tc := range []struct {
		name      string
		bucket    string
		wantMode  delMode
		wantParam bool
	}{
		{"unversioned", srv.NewBucket(t), delGeneration, true},
		{"versioned", srv.NewVersionedBucket(t), delPrecondition, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, srv.Endpoint)
			s := openStore(t, map[string]string{KeyBucket: tc.bucket, KeyEndpoint: p.URL, KeyTimeout: "20s"})
			if s.delMode != tc.wantMode {
				t.Fatalf("delete mode %v, want %v", s.delMode, tc.wantMode)
			}
			v1 := mustPut(t, s, "k", "one", sdk.None)
			v2 := mustPut(t, s, "k", "two", sdk.None)
			p.reset()
			err := s.Delete(ctx, "k", sdk.IfVersion(v1))
			var del []recordedRequest
			for _, r := range p.recorded() {
				if r.Method == http.MethodDelete {
					del = append(del, r)
				}
			}
			if len(del) != 1 {
				t.Fatalf("%d DELETE requests, want 1: %+v", len(del), p.recorded())
			}
			if got := del[0].Query.Get("ifGenerationMatch"); got != string(v1) {
				t.Fatalf("ifGenerationMatch=%q, want %s", got, v1)
			}
			if got := del[0].Query.Has("generation"); got != tc.wantParam {
				t.Fatalf("generation sent: %v (%q), want %v", got, del[0].Query.Get("generation"), tc.wantParam)
			}
			if tc.wantParam {
				// Enforced by the emulator itself: the stale delete
				// conflicts and the value stays.
				wantKind(t, err, sdk.ErrConflict, "Delete IfVersion with a stale version")
				mustGet(t, s, "k", "two", v2)
				if err := s.Delete(ctx, "k", sdk.IfVersion(v2)); err != nil {
					t.Fatalf("Delete IfVersion with the live version: %v", err)
				}
				if _, _, err := s.Get(ctx, "k"); !errors.Is(err, sdk.ErrNotFound) {
					t.Fatalf("Get after the delete: %v, want not found", err)
				}
				err = s.Delete(ctx, "k", sdk.IfVersion(v2))
				wantKind(t, err, sdk.ErrNotFound, "Delete IfVersion of a deleted key")
			}
		})
	}
}

// liveGeneration asks the emulator directly for the generation of the
// object addressed by a JSON API path /storage/v1/b/B/o/NAME.
func liveGeneration(t *testing.T, endpoint, path string) (int64, bool) {
	resp, err := http.Get(endpoint + (&url.URL{Path: path}).EscapedPath())
	if err != nil {
		t.Errorf("metadata of %s: %v", path, err)
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return 0, false
	}
	var m struct {
		Generation string `json:"generation"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Errorf("metadata of %s: %v", path, err)
		return 0, false
	}
	g, _ := strconv.ParseInt(m.Generation, 10, 64)
	return g, true
}

func gcsError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"error":{"code":%d,"message":%q,"errors":[{"message":%q,"domain":"global","reason":"conditionNotMet"}]}}`, code, msg, msg)
}

// A conditional Put whose response is lost is retried by the library; the
// retry fails its precondition because the first attempt took effect. The
// store recognises its own write and reports success.
func TestRetriedConditionalPutLostResponse(t *testing.T) {
	s, p, _ := newProxiedStore(t, KeyMaxRetries, "3")
	ctx := context.Background()
	var uploads atomic.Int32
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, forward func()) bool {
		if r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "/upload/") {
			return false
		}
		if uploads.Add(1) != 1 {
			return false
		}
		// Apply the first attempt, then lose its answer.
		rec := httptest.NewRecorder()
		forwardTo(rec, r, testenv.GCS(t).Endpoint)
		if rec.Code != http.StatusOK {
			t.Errorf("first attempt was not applied: HTTP %d %s", rec.Code, rec.Body)
		}
		gcsError(w, http.StatusServiceUnavailable, "backend error")
		return true
	})
	v, err := s.Put(ctx, "k", []byte("mine"), sdk.IfAbsent())
	if err != nil {
		t.Fatalf("Put IfAbsent whose first answer was lost: %v", err)
	}
	if n := uploads.Load(); n < 2 {
		t.Fatalf("%d upload attempts, want a retry", n)
	}
	mustGet(t, s, "k", "mine", v)

	// The same, but another writer's different bytes land in between: the
	// retry's 412 is a real conflict.
	uploads.Store(0)
	other := openStore(t, map[string]string{KeyBucket: s.cfg.bucket, KeyEndpoint: testenv.GCS(t).Endpoint})
	var otherV sdk.Version
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, forward func()) bool {
		if r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "/upload/") {
			return false
		}
		if uploads.Add(1) != 1 {
			return false
		}
		io.Copy(io.Discard, r.Body)
		var err error
		otherV, err = other.Put(context.Background(), "k", []byte("theirs"), sdk.None)
		if err != nil {
			t.Errorf("other writer: %v", err)
		}
		gcsError(w, http.StatusServiceUnavailable, "backend error")
		return true
	})
	_, err = s.Put(ctx, "k", []byte("mine again"), sdk.IfVersion(v))
	wantKind(t, err, sdk.ErrConflict, "retried Put IfVersion after another writer")
	mustGet(t, s, "k", "theirs", otherV)
}

// A conditional Delete whose response is lost is retried and finds the key
// gone; the store reports the delete as done.
func TestRetriedConditionalDeleteLostResponse(t *testing.T) {
	s, p, _ := newProxiedStore(t, KeyMaxRetries, "3")
	ctx := context.Background()
	v := mustPut(t, s, "k", "v", sdk.None)
	var deletes atomic.Int32
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, forward func()) bool {
		if r.Method != http.MethodDelete || deletes.Add(1) != 1 {
			return false
		}
		rec := httptest.NewRecorder()
		forwardTo(rec, r, testenv.GCS(t).Endpoint)
		if rec.Code/100 != 2 {
			t.Errorf("first delete attempt was not applied: HTTP %d", rec.Code)
		}
		gcsError(w, http.StatusServiceUnavailable, "backend error")
		return true
	})
	if err := s.Delete(ctx, "k", sdk.IfVersion(v)); err != nil {
		t.Fatalf("Delete IfVersion whose first answer was lost: %v", err)
	}
	if n := deletes.Load(); n < 2 {
		t.Fatalf("%d delete attempts, want a retry", n)
	}
	_, _, err := s.Get(ctx, "k")
	wantKind(t, err, sdk.ErrNotFound, "Get after the retried delete")

	// Without a lost answer, Delete IfVersion of a missing key is still
	// ErrNotFound.
	p.setIntercept(nil)
	err = s.Delete(ctx, "k", sdk.IfVersion(v))
	wantKind(t, err, sdk.ErrNotFound, "Delete IfVersion of a missing key")
}

// forwardTo sends r to the emulator and records the answer in w.
func forwardTo(w http.ResponseWriter, r *http.Request, endpoint string) {
	u, _ := url.Parse(endpoint)
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.Host, out.RequestURI = u.Scheme, u.Host, u.Host, ""
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// emulatorGap is a precondition or guarantee of GCS that the emulator does
// not honour, found by probing it directly.
type emulatorGap struct {
	name   string // what is not enforced
	reason string
}

var (
	gapsOnce sync.Once
	gaps     []emulatorGap
	gapsErr  error
)

// probeEmulatorGaps asks fake-gcs-server, with raw JSON API requests, to
// honour each precondition the plugin relies on, and returns the ones it
// does not honour. The plugin sends every precondition regardless.
func probeEmulatorGaps(t testing.TB) []emulatorGap {
	t.Helper()
	srv := testenv.GCS(t)
	gapsOnce.Do(func() { gaps, gapsErr = probe(srv, srv.NewBucket(t)) })
	if gapsErr != nil {
		t.Fatalf("probing fake-gcs-server: %v", gapsErr)
	}
	return gaps
}

func probe(srv testenv.GCSServer, bucket string) ([]emulatorGap, error) {
	api := srv.Endpoint + "/storage/v1/b/" + bucket + "/o/"
	upload := func(name, cond string) (int, int64, error) {
		u := srv.Endpoint + "/upload/storage/v1/b/" + bucket + "/o?uploadType=media&name=" + url.QueryEscape(name) + cond
		resp, err := http.Post(u, "application/octet-stream", strings.NewReader("probe"))
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		var m struct {
			Generation string `json:"generation"`
		}
		json.NewDecoder(resp.Body).Decode(&m)
		g, _ := strconv.ParseInt(m.Generation, 10, 64)
		return resp.StatusCode, g, nil
	}
	del := func(name, cond string) (int, error) {
		req, _ := http.NewRequest(http.MethodDelete, api+url.PathEscape(name)+"?"+strings.TrimPrefix(cond, "&"), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	exists := func(name string) (bool, error) {
		resp, err := http.Get(api + url.PathEscape(name))
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}
	var out []emulatorGap
	// 1. create-if-absent on an existing object.
	code, g, err := upload("p1", "")
	if err != nil || code != 200 {
		return nil, fmt.Errorf("seed upload: %d %v", code, err)
	}
	if code, err = must(upload("p1", "&ifGenerationMatch=0")); err != nil {
		return nil, err
	} else if code != http.StatusPreconditionFailed {
		out = append(out, emulatorGap{"upload ifGenerationMatch=0", fmt.Sprintf("an upload with ifGenerationMatch=0 over an existing object answers HTTP %d, not 412", code)})
	}
	// 2. replace-if-generation with a stale generation.
	if code, err = must(upload("p1", "&ifGenerationMatch="+strconv.FormatInt(g+1, 10))); err != nil {
		return nil, err
	} else if code != http.StatusPreconditionFailed {
		out = append(out, emulatorGap{"upload ifGenerationMatch", fmt.Sprintf("an upload with a stale ifGenerationMatch answers HTTP %d, not 412", code)})
	}
	// 3. replace-if-generation on a missing object.
	if code, err = must(upload("p-missing", "&ifGenerationMatch=123")); err != nil {
		return nil, err
	} else if code != http.StatusPreconditionFailed && code != http.StatusNotFound {
		out = append(out, emulatorGap{"upload ifGenerationMatch on a missing object", fmt.Sprintf("answers HTTP %d, not 412", code)})
	}
	// 4. delete-if-generation with a stale generation.
	code, err = del("p1", "ifGenerationMatch="+strconv.FormatInt(g+1, 10))
	if err != nil {
		return nil, err
	}
	still, err := exists("p1")
	if err != nil {
		return nil, err
	}
	if code != http.StatusPreconditionFailed || !still {
		out = append(out, emulatorGap{"delete ifGenerationMatch", fmt.Sprintf("fake-gcs-server v1.56.1 ignores ifGenerationMatch on DELETE (objects.delete reads only 'generation'): a delete with a stale generation answers HTTP %d and the object is %s; real GCS answers 412 and keeps it", code, map[bool]string{true: "kept", false: "deleted"}[still])})
	}
	// 4b. delete naming a generation that is not live (what the plugin
	// sends on a bucket without versioning).
	code, g2, err := upload("p2", "")
	if err != nil || code != 200 {
		return nil, fmt.Errorf("seed upload: %d %v", code, err)
	}
	code, err = del("p2", "generation="+strconv.FormatInt(g2+1, 10))
	if err != nil {
		return nil, err
	}
	if still, err = exists("p2"); err != nil {
		return nil, err
	}
	if code != http.StatusNotFound || !still {
		out = append(out, emulatorGap{"delete generation", fmt.Sprintf("a delete naming a generation that is not live answers HTTP %d and the object is %s; GCS answers 404 and keeps it", code, map[bool]string{true: "kept", false: "deleted"}[still])})
	}
	// 5. unique generations: GCS never gives two writes of an object the
	// same generation; the emulator derives it from the clock in
	// microseconds. Write one object concurrently and look for a repeat.
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if code, g, err := upload("p-gen", ""); err == nil && code == 200 {
					mu.Lock()
					seen[g]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	if dups > 0 {
		out = append(out, emulatorGap{"unique generations", fmt.Sprintf("fake-gcs-server derives a generation from the clock in microseconds, so concurrent writes of one object can share a generation (%d repeats in 200 concurrent writes)", dups)})
	}
	return out, nil
}

func must(code int, _ int64, err error) (int, error) { return code, err }

// TestEmulatorGaps reports what fake-gcs-server does not enforce. The
// write preconditions and a delete naming a generation must be enforced (the
// CAS tests rely on them); the delete precondition alone is a known gap,
// covered by TestPreconditionsOnTheWire and, on buckets without versioning,
// made exact by naming the generation.
func TestEmulatorGaps(t *testing.T) {
	gaps := probeEmulatorGaps(t)
	for _, g := range gaps {
		t.Logf("KNOWN EMULATOR GAP: %s: %s", g.name, g.reason)
		if strings.HasPrefix(g.name, "upload") || g.name == "delete generation" {
			t.Errorf("the emulator does not enforce a write precondition: %s: %s", g.name, g.reason)
		}
	}
}
