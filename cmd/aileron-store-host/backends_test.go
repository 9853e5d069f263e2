package main

// The CLI against every backend the test command provisions: fs (the
// built-in plugin, configured explicitly), PostgreSQL
// (a throwaway cluster), S3 (versitygw) and GCS (fake-gcs-server), each
// through its real plugin binary found in plugin_dir, and a migration
// fs -> postgres -> s3 with every credential readable afterwards.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/ALRubinger/aileron-store/conformance"
	"github.com/ALRubinger/aileron-store/internal/testenv"
)

// pluginDir builds the plugin binaries and returns the directory holding
// them (testenv.Binary puts every binary in one directory).
func pluginDir(t *testing.T) string {
	t.Helper()
	var dir string
	for _, p := range []string{"s3", "gcs", "postgres"} {
		dir = filepath.Dir(testenv.Binary(t, "./plugins/"+p+"/cmd/aileron-store-"+p))
	}
	return dir
}

// scenarioBackends names the servers the black-box scenario runs on: the
// built-in fs plugin configured explicitly, and each S3 server the test
// command provisions (testenv.S3Kinds) runs the s3 plugin.
var scenarioBackends = []string{"fs", "postgres", "s3", "s3/" + string(testenv.VersitygwSidecar), "s3/" + string(testenv.MinIO), "gcs"}

// backendConfig writes a config file for a fresh, empty store on server
// (a backend name, or s3/<testenv.S3Kind>) and returns it with the backend.
func backendConfig(t *testing.T, server string) (string, string) {
	t.Helper()
	var cfg map[string]string
	backend := server
	switch server {
	case "fs": // the built-in plugin: the host binary itself
		return backend, writeConfigFile(t, backend, "", map[string]string{"path": filepath.Join(t.TempDir(), "fs-data")})
	case "postgres":
		_, dsn := testenv.Postgres(t).NewDatabase(t, nil)
		cfg = map[string]string{"dsn": dsn}
	case "s3", "s3/" + string(testenv.VersitygwSidecar), "s3/" + string(testenv.MinIO):
		kind := testenv.Versitygw
		if k, ok := strings.CutPrefix(server, "s3/"); ok {
			kind = testenv.S3Kind(k)
		}
		s := testenv.S3Of(t, kind)
		cfg = s.Config(s.NewBucket(t))
		backend = "s3"
	case "gcs":
		s := testenv.GCS(t)
		cfg = map[string]string{"bucket": s.NewBucket(t), "endpoint": s.Endpoint}
	default:
		t.Fatalf("no test config for server %q", server)
	}
	return backend, writeConfigFile(t, backend, pluginDir(t), cfg)
}

func writeConfigFile(t *testing.T, backend, plugins string, cfg map[string]string) string {
	t.Helper()
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s backend for the host's black-box tests\nstorage:\n  backend: %s\n  config:\n", backend, backend)
	for _, k := range keys {
		fmt.Fprintf(&b, "    %s: %q\n", k, cfg[k])
	}
	if plugins != "" {
		fmt.Fprintf(&b, "plugin_dir: %q\n", plugins)
	}
	p := filepath.Join(t.TempDir(), backend+".yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScenarioPerBackend(t *testing.T) {
	for _, server := range scenarioBackends {
		t.Run(server, func(t *testing.T) {
			// In parallel: on S3 and GCS most of a scenario is the revoke's
			// and the rotation's wait for the stale-writer window (15 s each).
			t.Parallel()
			start := time.Now()
			h := newHost(t)
			backend, cfg := backendConfig(t, server)
			c := []string{"--config", cfg}

			r := h.ok(nil, nil, append(c, "plugin", "verify", backend)...)
			if !strings.Contains(r.stdout, "configured backend accepted its config") {
				t.Fatalf("plugin verify:\n%s", r.stdout)
			}
			// The S3 and GCS plugins report what their probe found.
			if (backend == "s3" || backend == "gcs") && !regexp.MustCompile(`(?m)^\s+what the plugin found about its backend:\n\s+conditional_delete: \S`).MatchString(r.stdout) {
				t.Fatalf("plugin verify prints no probe report:\n%s", r.stdout)
			}
			h.setupFast(c...)
			want := fillVault(h, 3, c...)
			checkVault(h, want, "ops", c...)
			h.fail(1, []string{`for identity "bob"`}, nil, nil, append(c, "cred", "get", "team", "cred-00", "--as", "bob")...)
			h.ok(nil, nil, append(c, "vault", "grant", "team", h.recipient("bob"), "--name", "bob", "--as", "ops")...)
			checkVault(h, want, "bob", c...)
			r = h.ok(nil, nil, append(c, "vault", "revoke", "team", "bob", "--as", "ops")...)
			for name := range want {
				if !strings.Contains(r.stdout, "  "+name+"\n") {
					t.Fatalf("revoke report misses %s:\n%s", name, r.stdout)
				}
			}
			h.fail(1, []string{`not a member`, `"bob"`}, nil, nil, append(c, "cred", "get", "team", "cred-00", "--as", "bob")...)
			h.ok(nil, nil, append(c, "vault", "rotate", "team", "--as", "ops")...)
			checkHistory(h, start, c...)
			h.ok(nil, nil, append(c, "cred", "rm", "team", "cred-02", "--as", "ops")...)
			delete(want, "cred-02")
			checkVault(h, want, "ops", c...)
			// The default fs backend of this home was never touched.
			if _, err := os.Stat(filepath.Join(h.home, "data")); !os.IsNotExist(err) {
				t.Errorf("fs data dir created although the %s backend was configured: %v", backend, err)
			}
		})
	}
}

func TestBackendUnreachable(t *testing.T) {
	h := newHost(t)
	h.ok(nil, nil, "identity", "new", "ops", "--no-passphrase")
	port := testenv.FreePort(t) // nothing listens there
	dsn := fmt.Sprintf("postgres://u:secretpw@127.0.0.1:%d/db?connect_timeout=2", port)
	cfg := writeConfigFile(t, "postgres", pluginDir(t), map[string]string{"dsn": dsn, "connect_timeout": "2s"})
	r := h.fail(1, []string{`(?m)^error: backend "postgres" unreachable: `}, nil, nil, "--config", cfg, "vault", "list", "--as", "ops")
	if strings.Contains(r.stderr, "secretpw") {
		t.Fatalf("the DSN's password leaked:\n%s", r.stderr)
	}
	s3cfg := writeConfigFile(t, "s3", pluginDir(t), map[string]string{
		"bucket": "aileron-test", "endpoint": fmt.Sprintf("http://127.0.0.1:%d", port), "access_key_id": "AK", "secret_access_key": "s3cretkey", "max_retries": "0", "timeout": "3s",
	})
	r = h.fail(1, []string{`(?m)^error: backend "s3" unreachable: `}, nil, nil, "--config", s3cfg, "vault", "list", "--as", "ops")
	if strings.Contains(r.stderr, "s3cretkey") {
		t.Fatalf("the secret key leaked:\n%s", r.stderr)
	}
}

func TestMigrateFSToPostgresToS3(t *testing.T) {
	h := newHost(t)
	h.setupFast()
	h.ok(nil, nil, "identity", "new", "carol", "--no-passphrase")
	h.ok(nil, nil, "vault", "grant", "team", h.recipient("bob"), "--name", "bob", "--as", "ops")
	h.ok(nil, nil, "vault", "create", "solo", "--as", "carol")
	h.ok([]byte("carol's"), nil, "cred", "put", "solo", "mine", "--as", "carol")
	want := fillVault(h, 6)
	h.ok(nil, nil, "vault", "revoke", "team", "bob", "--as", "ops") // epochs > 1 and retired slots travel too

	_, pg := backendConfig(t, "postgres")
	r := h.ok(nil, nil, "migrate", "--to", pg)
	if !strings.Contains(r.stdout, `from backend "fs" to backend "postgres"`) || !strings.Contains(r.stdout, "verified") {
		t.Fatalf("fs -> postgres:\n%s", r)
	}
	checkVault(h, want, "ops", "--config", pg)

	_, s3 := backendConfig(t, "s3")
	r = h.ok(nil, nil, "--config", pg, "migrate", "--to", s3)
	if !strings.Contains(r.stdout, `from backend "postgres" to backend "s3"`) {
		t.Fatalf("postgres -> s3:\n%s", r)
	}
	checkVault(h, want, "ops", "--config", s3)
	if got := h.ok(nil, nil, "--config", s3, "cred", "get", "solo", "mine", "--as", "carol").stdout; got != "carol's" {
		t.Fatalf("carol via s3: %q", got)
	}
	h.fail(1, []string{`not a member`}, nil, nil, "--config", s3, "cred", "get", "team", "cred-00", "--as", "bob")
	// The migrated vault stays writable and administrable on the new backend.
	h.ok([]byte("new"), nil, "--config", s3, "cred", "put", "team", "after-migrate", "--as", "ops")
	h.ok(nil, nil, "--config", s3, "vault", "rotate", "team", "--as", "ops")
	want["after-migrate"] = "new"
	checkVault(h, want, "ops", "--config", s3)
}

func TestConformanceCommand(t *testing.T) {
	t.Run("fs", func(t *testing.T) {
		h := newHost(t)
		r := h.ok(nil, nil, "conformance", "--run", "^(cas|errors)/")
		if !regexp.MustCompile(`(?m)^cas/race-one-winner\s+PASS`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^\d+ checks: \d+ passed, 0 failed`).MatchString(r.stdout) {
			t.Fatalf("table:\n%s", r)
		}
		if strings.Contains(r.stdout, "list/") {
			t.Fatalf("--run did not filter:\n%s", r.stdout)
		}
		r = h.ok(nil, nil, "conformance", "--run", "^errors/not-found$", "--json")
		var out struct {
			Backend string
			Failed  bool
			Results []struct{ Name, Status string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("--json output: %v\n%s", err, r.stdout)
		}
		if out.Backend != "fs" || out.Failed || len(out.Results) != 1 || out.Results[0].Name != "errors/not-found" || out.Results[0].Status != "pass" {
			t.Fatalf("--json: %+v", out)
		}
		// Nothing is left beside the (untouched) data directory.
		ents, _ := os.ReadDir(h.home)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "aileron-conformance-") {
				t.Errorf("left behind: %s", e.Name())
			}
		}
		h.fail(2, []string{`matches no check`}, nil, nil, "conformance", "--run", "^nothing-matches$")
		h.fail(2, []string{`--run "\("`}, nil, nil, "conformance", "--run", "(")
	})
	t.Run("postgres", func(t *testing.T) {
		h := newHost(t)
		pg := testenv.Postgres(t)
		db, dsn := pg.NewDatabase(t, nil)
		cfg := writeConfigFile(t, "postgres", pluginDir(t), map[string]string{"dsn": dsn})
		r := h.ok(nil, nil, "--config", cfg, "conformance", "--run", "^(cas/(create-if-absent|stale-version)|list/page-sizes|durability/)")
		if !regexp.MustCompile(`(?m)^5 checks: 5 passed, 0 failed`).MatchString(r.stdout) {
			t.Fatalf("postgres:\n%s", r)
		}
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, pg.DSNFor(db))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		// The checks ran under key prefixes of the configured table and
		// emptied them: no row and no table of theirs is left.
		var tables, rows int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'aileron_store' AND table_name NOT IN ('blobs', 'schema_version')").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM aileron_store.blobs").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if tables != 0 || rows != 0 {
			t.Fatalf("left behind: %d tables beside blobs, %d rows in blobs", tables, rows)
		}
	})
	// The compare-and-swap and listing checks through the command, as a user
	// runs them against their own server, on every S3 server the test
	// command provisions (plugins/s3's TestConformancePlugin runs the whole
	// suite across the same boundary).
	for _, kind := range testenv.S3Kinds {
		t.Run("s3/"+string(kind), func(t *testing.T) {
			h := newHost(t)
			s := testenv.S3Of(t, kind)
			bucket := s.NewBucket(t)
			cfg := writeConfigFile(t, "s3", pluginDir(t), s.Config(bucket))
			start := time.Now()
			r := h.ok(nil, nil, "--config", cfg, "conformance", "--run", "^(cas|list)/")
			t.Logf("aileron-store-host conformance --run '^(cas|list)/' against %s: %v", kind, time.Since(start).Round(time.Millisecond))
			n := countChecks(`^(cas|list)/`)
			if !regexp.MustCompile(fmt.Sprintf(`(?m)^%d checks: %d passed, 0 failed, 0 known gaps, 0 skipped`, n, n)).MatchString(r.stdout) {
				t.Fatalf("s3 on %s:\n%s", kind, r)
			}
			if !regexp.MustCompile(`(?m)^what the plugin found about its backend:\n\s+conditional_delete: \S`).MatchString(r.stdout) {
				t.Fatalf("conformance prints no probe report:\n%s", r.stdout)
			}
			tombstones := 0
			for obj := range s.Client(t).ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
				if obj.Err != nil {
					t.Fatal(obj.Err)
				}
				// MinIO ignores If-Match on DeleteObject: a conditional
				// Delete leaves a 16-byte tombstone, which no listing shows
				// and only an unconditional Delete removes (plugins/s3 doc).
				if kind == testenv.MinIO && obj.Size == 16 {
					tombstones++
					continue
				}
				t.Errorf("left behind: %s (%d bytes)", obj.Key, obj.Size)
			}
			if tombstones > 0 {
				t.Logf("%d tombstones left on %s by conditional deletes", tombstones, kind)
			}
		})
	}
	// fake-gcs-server ignores ifGenerationMatch on delete; on a bucket
	// without versioning the plugin names the generation, which it enforces,
	// so cas/stale-version, cas/identical-rewrite and cas/recreate-new-version
	// pass with no known gap.
	t.Run("gcs", func(t *testing.T) {
		h := newHost(t)
		s := testenv.GCS(t)
		cfg := writeConfigFile(t, "gcs", pluginDir(t), map[string]string{"bucket": s.NewBucket(t), "endpoint": s.Endpoint})
		start := time.Now()
		r := h.ok(nil, nil, "--config", cfg, "conformance", "--run", "^(cas|list)/")
		t.Logf("aileron-store-host conformance --run '^(cas|list)/' against fake-gcs-server: %v", time.Since(start).Round(time.Millisecond))
		n := countChecks(`^(cas|list)/`)
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^%d checks: %d passed, 0 failed, 0 known gaps, 0 skipped`, n, n)).MatchString(r.stdout) {
			t.Fatalf("gcs:\n%s", r)
		}
		if !strings.Contains(r.stdout, "conditional_delete: generation+ifGenerationMatch") {
			t.Fatalf("conformance prints no probe report naming the generation delete:\n%s", r.stdout)
		}
	})
}

// countChecks returns how many checks of the suite match re.
func countChecks(re string) int {
	n := 0
	for _, c := range conformance.Checks() {
		if regexp.MustCompile(re).MatchString(c.Name) {
			n++
		}
	}
	return n
}
