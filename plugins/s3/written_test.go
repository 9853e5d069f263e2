package s3

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
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

	ctx := context.Background()
	const n = 30
	for i := range n {
		mustPut(t, a, fmt.Sprintf("k%02d", i), fmt.Sprintf("a%02d", i), sdk.None)
	}
	for i := 0; i < n; i += 3 {
		mustPut(t, b, fmt.Sprintf("k%02d", i), fmt.Sprintf("b%02d", i), sdk.None)
	}
	// a deletes one of its keys and one of b's: neither is listed.
	for _, k := range []string{"k01", "k03"} {
		if err := a.Delete(ctx, k, sdk.None); err != nil {
			t.Fatal(err)
		}
	}
	gets.Store(0)
	page, err := sdk.Checked(a).List(ctx, sdk.ListOptions{WithValues: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != n-2 {
		t.Fatalf("listed %d keys, want %d", len(page.Entries), n-2)
	}
	for _, e := range page.Entries {
		var i int
		fmt.Sscanf(e.Key, "k%02d", &i)
		want := fmt.Sprintf("a%02d", i)
		if i%3 == 0 {
			want = fmt.Sprintf("b%02d", i)
		}
		if string(e.Value) != want {
			t.Errorf("%s: listed value %q, want %q", e.Key, e.Value, want)
		}
		v, ver, err := b.Get(ctx, e.Key)
		if err != nil || !bytes.Equal(v, e.Value) || ver != e.Version {
			t.Errorf("%s: listed %q@%s, b reads %q@%s %v", e.Key, e.Value, e.Version, v, ver, err)
		}
	}
	// b's writes: k00, k06, ..., k27 (k03 deleted): 9 objects to read.
	if got := gets.Load(); got != 9 {
		t.Errorf("the listing sent %d GetObject requests, want 9 (one per object b wrote)", got)
	}
}
