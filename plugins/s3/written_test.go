package s3

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/internal/written/writtentest"
)

// TestListReadsOnlyWhatOthersWrote: a listing with values reads back no
// object this Store wrote (at the version it wrote), and reads every object
// another client wrote over it, returning that client's value.
func TestListReadsOnlyWhatOthersWrote(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.NewBucket(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var gets atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && !r.URL.Query().Has("list-type") && strings.Contains(r.URL.Path, "/k") {
			gets.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	cfg := srv.Config(bucket)
	cfg["endpoint"] = proxy.URL // the client signs for the proxy's host, which it forwards
	a, err := open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := open(context.Background(), srv.Config(bucket))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	writtentest.CheckListReads(t, a, b, func() { gets.Store(0) }, func() int { return int(gets.Load()) })
}
