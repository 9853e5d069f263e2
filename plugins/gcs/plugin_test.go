package gcs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
)

// openPlugin starts the aileron-store-gcs binary through the SDK's host
// client, configured for a fresh bucket of the shared emulator.
func openPlugin(t *testing.T, extra ...string) (*sdk.Client, map[string]string) {
	t.Helper()
	srv := testenv.GCS(t)
	bin := testenv.Binary(t, "./plugins/gcs/cmd/aileron-store-gcs")
	cfg := map[string]string{KeyBucket: srv.NewBucket(t), KeyEndpoint: srv.Endpoint, KeyTimeout: "20s"}
	for i := 0; i+1 < len(extra); i += 2 {
		cfg[extra[i]] = extra[i+1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := sdk.Open(ctx, bin, cfg, nil)
	if err != nil {
		t.Fatalf("sdk.Open(aileron-store-gcs, %v): %v", cfg, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, cfg
}

// The plugin binary serves the store across the process boundary: values,
// versions, CAS outcomes and error kinds arrive intact on the host side.
func TestPluginProcess(t *testing.T) {
	c, cfg := openPlugin(t)
	ctx := context.Background()
	if caps := c.Capabilities(); caps.MaxValueSize != sdk.MaxValueSize {
		t.Fatalf("capabilities across the boundary: %+v", caps)
	}
	v1 := mustPut(t, c, "p/k", "one", sdk.IfAbsent())
	_, err := c.Put(ctx, "p/k", []byte("two"), sdk.IfAbsent())
	wantKind(t, err, sdk.ErrConflict, "Put IfAbsent on an existing key (via plugin)")
	v2 := mustPut(t, c, "p/k", "two", sdk.IfVersion(v1))
	_, err = c.Put(ctx, "p/k", []byte("three"), sdk.IfVersion(v1))
	wantKind(t, err, sdk.ErrConflict, "stale Put IfVersion (via plugin)")
	_, err = c.Put(ctx, "p/missing", []byte("x"), sdk.IfVersion(v1))
	wantKind(t, err, sdk.ErrNotFound, "Put IfVersion on a missing key (via plugin)")
	mustGet(t, c, "p/k", "two", v2)

	// The in-process store sees what the plugin wrote, with the same version.
	local := openStore(t, cfg)
	mustGet(t, local, "p/k", "two", v2)

	page, err := c.List(ctx, sdk.ListOptions{Prefix: "p/", WithValues: true})
	if err != nil || len(page.Entries) != 1 || page.Entries[0].Key != "p/k" || string(page.Entries[0].Value) != "two" || page.Entries[0].Version != v2 || page.More {
		t.Fatalf("List with values via plugin: %+v, %v", page, err)
	}
	if err := c.Delete(ctx, "p/k", sdk.IfVersion(v2)); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Get(ctx, "p/k")
	wantKind(t, err, sdk.ErrNotFound, "Get after Delete (via plugin)")
	if err := c.Delete(ctx, "p/k", sdk.None); err != nil {
		t.Fatalf("unconditional Delete of a missing key via plugin: %v", err)
	}

	// Context cancellation crosses the boundary.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = c.Get(cctx, "p/k")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context via plugin: %v", err)
	}
}

// Configuration errors from the plugin process name the field and wrap
// ErrInvalidArgument on the host side.
func TestPluginConfigErrors(t *testing.T) {
	srv := testenv.GCS(t)
	bin := testenv.Binary(t, "./plugins/gcs/cmd/aileron-store-gcs")
	for _, tc := range []struct {
		cfg   map[string]string
		field string
	}{
		{map[string]string{KeyEndpoint: srv.Endpoint}, KeyBucket},
		{map[string]string{KeyBucket: "abc", KeyEndpoint: srv.Endpoint, "bukket": "x"}, "bukket"},
		{map[string]string{KeyBucket: "no-such-bucket-x", KeyEndpoint: srv.Endpoint}, KeyBucket},
		{map[string]string{KeyBucket: "abc", KeyEndpoint: srv.Endpoint, KeyTimeout: "forever"}, KeyTimeout},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		c, err := sdk.Open(ctx, bin, tc.cfg, nil)
		cancel()
		if err == nil {
			c.Close()
			t.Fatalf("sdk.Open(%v) succeeded", tc.cfg)
		}
		if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), `"`+tc.field+`"`) {
			t.Fatalf("sdk.Open(%v): %v; want ErrInvalidArgument naming %q", tc.cfg, err, tc.field)
		}
	}
}
