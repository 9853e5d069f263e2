//go:build s3external

package s3

// The conformance suite against an S3 server you run yourself (MinIO on your
// laptop, AWS, Ceph, ...). Built only with -tags s3external, so the default
// test run needs no outside server; with the tag, missing settings fail the
// test rather than skip it:
//
//	AILERON_S3_ENDPOINT=http://127.0.0.1:9000 \
//	AILERON_S3_BUCKET=aileron-conformance \
//	AILERON_S3_ACCESS_KEY_ID=minioadmin AILERON_S3_SECRET_ACCESS_KEY=minioadmin \
//	go test -tags s3external -run TestConformanceExternal -v ./plugins/s3/
//
// AILERON_S3_ENDPOINT empty means AWS (then AILERON_S3_REGION, and the
// credentials may come from the default chain). The bucket is created when
// missing. Everything runs under a random prefix that is removed afterwards.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ALRubinger/aileron-store/conformance"
	"github.com/ALRubinger/aileron-store/internal/testenv"
)

func externalConfig(t *testing.T) (func() map[string]string, string) {
	t.Helper()
	get := func(name string) string { return os.Getenv("AILERON_S3_" + name) }
	bucket := get("BUCKET")
	if bucket == "" {
		t.Fatal("AILERON_S3_BUCKET is not set (see external_test.go for the settings)")
	}
	base := map[string]string{"bucket": bucket}
	for field, env := range map[string]string{"endpoint": "ENDPOINT", "region": "REGION",
		"access_key_id": "ACCESS_KEY_ID", "secret_access_key": "SECRET_ACCESS_KEY", "path_style": "PATH_STYLE"} {
		if v := get(env); v != "" {
			base[field] = v
		}
	}
	var b [6]byte
	rand.Read(b[:])
	run := "aileron-conformance-" + hex.EncodeToString(b[:])
	ensureBucket(t, base, run)
	var n atomic.Int64
	return func() map[string]string {
		cfg := map[string]string{}
		for k, v := range base {
			cfg[k] = v
		}
		cfg["prefix"] = fmt.Sprintf("%s/c%03d", run, n.Add(1))
		return cfg
	}, run
}

// ensureBucket creates the bucket when missing (with static credentials and
// an endpoint) and removes the run's objects when t ends.
func ensureBucket(t *testing.T, cfg map[string]string, run string) {
	if cfg["endpoint"] == "" || cfg["access_key_id"] == "" {
		return
	}
	u, err := url.Parse(cfg["endpoint"])
	if err != nil {
		t.Fatalf("AILERON_S3_ENDPOINT: %v", err)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg["access_key_id"], cfg["secret_access_key"], ""),
		Secure: u.Scheme == "https", Region: cfg["region"], BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok, err := c.BucketExists(ctx, cfg["bucket"])
	if err != nil {
		t.Fatalf("checking bucket %q at %s: %v", cfg["bucket"], cfg["endpoint"], err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, cfg["bucket"], minio.MakeBucketOptions{Region: cfg["region"]}); err != nil {
			t.Fatalf("creating bucket %q at %s: %v", cfg["bucket"], cfg["endpoint"], err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for o := range c.ListObjects(ctx, cfg["bucket"], minio.ListObjectsOptions{Prefix: run + "/", Recursive: true}) {
			if o.Err != nil || !strings.HasPrefix(o.Key, run+"/") {
				break
			}
			_ = c.RemoveObject(ctx, cfg["bucket"], o.Key, minio.RemoveObjectOptions{})
		}
	})
}

// TestConformanceExternal runs the suite in process and across the plugin
// boundary against the configured server.
func TestConformanceExternal(t *testing.T) {
	fresh, run := externalConfig(t)
	t.Logf("running under prefix %s/ of bucket %s", run, os.Getenv("AILERON_S3_BUCKET"))
	s, err := open(context.Background(), fresh())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("conditional deletes on this server: %v", s.delMode)
	s.Close()
	t.Run("in-process", func(t *testing.T) {
		conformance.Run(t, inProcessHarness(t, fresh))
	})
	t.Run("plugin", func(t *testing.T) {
		bin := testenv.Binary(t, pluginPkg)
		conformance.Run(t, conformance.PluginHarness(t, bin, fresh))
	})
}
