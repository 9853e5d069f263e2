package s3

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
)

const pluginPkg = "./plugins/s3/cmd/aileron-store-s3"

// TestPluginBoundary runs the store as a plugin process through sdk.Open:
// values, versions, conditions, listing and error kinds survive the gRPC
// boundary.
func TestPluginBoundary(t *testing.T) {
	srv := testenv.S3(t)
	bin := testenv.Binary(t, pluginPkg)
	ctx := context.Background()
	bucket := srv.NewBucket(t)
	cfg := srv.Config(bucket)
	cfg["prefix"] = "plugin"
	c, err := sdk.Open(ctx, bin, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if caps := c.Capabilities(); caps.MaxValueSize != sdk.MaxValueSize || caps.NativeListValues {
		t.Fatalf("capabilities %+v", caps)
	}
	v1 := mustPut(t, c, "a", "one", sdk.IfAbsent())
	mustPut(t, c, "a/b", "two", sdk.IfAbsent())
	_, err = c.Put(ctx, "a", []byte("x"), sdk.IfAbsent())
	wantErr(t, "if-absent", err, sdk.ErrConflict)
	v2 := mustPut(t, c, "a", "one", sdk.IfVersion(v1))
	if v2 == v1 {
		t.Fatal("identical rewrite kept the version")
	}
	wantErr(t, "stale delete", c.Delete(ctx, "a", sdk.IfVersion(v1)), sdk.ErrConflict)
	wantErr(t, "missing delete", c.Delete(ctx, "zz", sdk.IfVersion(v1)), sdk.ErrNotFound)
	page, err := c.List(ctx, sdk.ListOptions{WithValues: true})
	if err != nil || len(page.Entries) != 2 || page.Entries[0].Key != "a" || string(page.Entries[0].Value) != "one" ||
		page.Entries[0].Version != v2 || page.Entries[1].Key != "a/b" {
		t.Fatalf("list: %+v, %v", page, err)
	}
	if err := c.Delete(ctx, "a", sdk.IfVersion(v2)); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Get(ctx, "a")
	wantErr(t, "get deleted", err, sdk.ErrNotFound)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = c.Get(cctx, "a/b")
	wantErr(t, "canceled get", err, context.Canceled)
}

// TestPluginConfigErrors: configuration errors keep their kind and the field
// name across the boundary, and never carry the secret.
func TestPluginConfigErrors(t *testing.T) {
	srv := testenv.S3(t)
	bin := testenv.Binary(t, pluginPkg)
	ctx := context.Background()
	bucket := srv.NewBucket(t)
	cases := []struct {
		name  string
		edit  func(map[string]string)
		kind  error
		field string
	}{
		{"unknown field", func(m map[string]string) { m["bukket"] = "x" }, sdk.ErrInvalidArgument, `"bukket"`},
		{"half credentials", func(m map[string]string) { delete(m, "access_key_id") }, sdk.ErrInvalidArgument, `"access_key_id"`},
		{"missing bucket", func(m map[string]string) { m["bucket"] = "no-such-bucket-here" }, sdk.ErrInvalidArgument, `"bucket"`},
		{"bad secret", func(m map[string]string) { m["secret_access_key"] = "x" + srv.SecretKey }, sdk.ErrPermissionDenied, bucket},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.Config(bucket)
			tc.edit(cfg)
			c, err := sdk.Open(ctx, bin, cfg, nil)
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("err = %v, want %v naming %s", err, tc.kind, tc.field)
			}
			if strings.Contains(err.Error(), srv.SecretKey) {
				t.Fatalf("err %q echoes the secret", err)
			}
		})
	}
}
