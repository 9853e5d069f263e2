package gcs

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newStore opens a Store on a fresh bucket of the shared fake-gcs-server.
// extra adds or overrides config fields ("" values delete a field).
func newStore(t *testing.T, extra ...string) (*Store, map[string]string) {
	t.Helper()
	srv := testenv.GCS(t)
	cfg := map[string]string{
		KeyBucket:   srv.NewBucket(t),
		KeyEndpoint: srv.Endpoint,
		KeyTimeout:  "20s",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		cfg[extra[i]] = extra[i+1]
	}
	return openStore(t, cfg), cfg
}

func openStore(t *testing.T, cfg map[string]string) *Store {
	t.Helper()
	st, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New(%v): %v", cfg, err)
	}
	t.Cleanup(func() { st.Close() })
	return st.(*Store)
}

// recordedRequest is one request that passed through a proxy.
type recordedRequest struct {
	Method string
	Path   string // unescaped path
	Query  url.Values
}

// proxy is a reverse proxy in front of the emulator that records every
// request and lets a test intercept some of them.
type proxy struct {
	URL string

	mu       sync.Mutex
	requests []recordedRequest
	// intercept, when set, may answer a request itself (returning true) or
	// let it through (false).
	intercept func(w http.ResponseWriter, r *http.Request, forward func()) bool

	inflight    atomic.Int32
	maxInflight atomic.Int32
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // canceled requests are expected
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests = append(p.requests, recordedRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()})
		icpt := p.intercept
		p.mu.Unlock()
		n := p.inflight.Add(1)
		defer p.inflight.Add(-1)
		for {
			m := p.maxInflight.Load()
			if n <= m || p.maxInflight.CompareAndSwap(m, n) {
				break
			}
		}
		forward := func() { rp.ServeHTTP(w, r) }
		if icpt != nil && icpt(w, r, forward) {
			return
		}
		forward()
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *proxy) setIntercept(f func(w http.ResponseWriter, r *http.Request, forward func()) bool) {
	p.mu.Lock()
	p.intercept = f
	p.mu.Unlock()
}

func (p *proxy) reset() {
	p.mu.Lock()
	p.requests = nil
	p.mu.Unlock()
	p.maxInflight.Store(0)
}

func (p *proxy) recorded() []recordedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]recordedRequest(nil), p.requests...)
}

// find returns the recorded requests with method whose path contains sub.
func (p *proxy) find(method, sub string) []recordedRequest {
	var out []recordedRequest
	for _, r := range p.recorded() {
		if r.Method == method && strings.Contains(r.Path, sub) {
			out = append(out, r)
		}
	}
	return out
}

// newProxiedStore opens a Store on a fresh bucket through a recording proxy.
func newProxiedStore(t *testing.T, extra ...string) (*Store, *proxy, map[string]string) {
	t.Helper()
	srv := testenv.GCS(t)
	p := newProxy(t, srv.Endpoint)
	cfg := map[string]string{
		KeyBucket:   srv.NewBucket(t),
		KeyEndpoint: p.URL,
		KeyTimeout:  "20s",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		cfg[extra[i]] = extra[i+1]
	}
	return openStore(t, cfg), p, cfg
}

// directConfig is cfg of a proxied store with the emulator's own endpoint:
// a second client of the same bucket, around the proxy.
func directConfig(t *testing.T, cfg map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range cfg {
		out[k] = v
	}
	out[KeyEndpoint] = testenv.GCS(t).Endpoint
	return out
}

func mustPut(t *testing.T, s sdk.Store, key, value string, cond sdk.Cond) sdk.Version {
	t.Helper()
	v, err := s.Put(context.Background(), key, []byte(value), cond)
	if err != nil {
		t.Fatalf("Put(%q, %s): %v", key, cond, err)
	}
	if v == "" {
		t.Fatalf("Put(%q) returned an empty version", key)
	}
	return v
}

func mustGet(t *testing.T, s sdk.Store, key, want string, wantV sdk.Version) {
	t.Helper()
	b, v, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if string(b) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, b, want)
	}
	if wantV != "" && v != wantV {
		t.Fatalf("Get(%q) version = %q, want %q", key, v, wantV)
	}
}

func wantKind(t *testing.T, err, kind error, what string) {
	t.Helper()
	if sdk.Kind(err) != kind {
		t.Fatalf("%s: got error %v (kind %v), want kind %v", what, err, sdk.Kind(err), kind)
	}
}
