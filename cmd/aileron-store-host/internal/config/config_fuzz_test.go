package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzConfigFile: any file content either parses into a configuration whose
// fields obey the documented rules, and that survives a marshal/parse round
// trip unchanged, or is refused with an *Error naming the file. It never
// panics. Seeds: f.Add below and testdata/fuzz/FuzzConfigFile.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"",
		"# only a comment\n",
		"storage:\n  backend: s3\n  sha256: \"" + strings.Repeat("ab", 32) + "\"\n  config:\n    bucket: aileron\n    endpoint: http://127.0.0.1:9000\n    path_style: true\n    max_retries: 3\nplugin_dir: ./plugins\n",
		"storage:\n  backend: fs\n  config:\n    path: /tmp/x\n",
		"storage: {backend: gcs, config: {bucket: b, endpoint: ~}}\n",
		"storage:\n  backend: S3\n",
		"storage:\n  config:\n    a: &x 1\n    b: *x\n",
		"storage:\n  <<: {backend: fs}\n",
		"storage:\n  backend: fs\n  backend: s3\n",
		"storage:\n  config:\n    k: !!binary aGVsbG8=\n",
		"a: 1\n---\nb: 2\n",
		"- a\n- b\n",
		"storage:\n  config:\n    ? [a, b]\n    : c\n",
		"plugin_dir: [a]\n",
		"storage:\n\tbackend: fs\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const path = "fuzz.yaml"
		cfg, err := Parse(path, data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *config.Error", err, err)
			}
			if ce.File != path || !strings.HasPrefix(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		checkConfig(t, cfg)
		// Round trip: what was understood, written back as YAML, is
		// understood the same way.
		doc := map[string]any{}
		st := map[string]any{}
		if cfg.Storage.Backend != "" {
			st["backend"] = cfg.Storage.Backend
		}
		if cfg.Storage.SHA256 != "" {
			st["sha256"] = cfg.Storage.SHA256
		}
		if len(cfg.Storage.Config) > 0 {
			st["config"] = cfg.Storage.Config
		}
		if len(st) > 0 {
			doc["storage"] = st
		}
		if cfg.PluginDir != "" {
			doc["plugin_dir"] = cfg.PluginDir
		}
		out, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatalf("marshal %+v: %v", cfg, err)
		}
		again, err := Parse(path, out)
		if err != nil {
			t.Fatalf("re-parsing the marshaled config failed: %v\nfirst input:\n%q\nmarshaled:\n%s", err, data, out)
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v\nmarshaled:\n%s", cfg, again, out)
		}
	})
}

func checkConfig(t *testing.T, cfg *Config) {
	t.Helper()
	if cfg.Storage.Backend != "" && !backendRE.MatchString(cfg.Storage.Backend) {
		t.Fatalf("accepted backend %q", cfg.Storage.Backend)
	}
	if cfg.Storage.SHA256 != "" && !sha256RE.MatchString(cfg.Storage.SHA256) {
		t.Fatalf("accepted sha256 %q", cfg.Storage.SHA256)
	}
	for k := range cfg.Storage.Config {
		if !optKeyRE.MatchString(k) {
			t.Fatalf("accepted config key %q", k)
		}
	}
}

// FuzzEnvOverrides: any environment override either applies within the
// documented rules or is refused with an *Error naming the variable.
func FuzzEnvOverrides(f *testing.F) {
	f.Add("s3", strings.Repeat("0", 64), "SECRET_ACCESS_KEY", "v")
	f.Add("Bad Name", "xyz", "bad key!", "")
	f.Add("", "", "A.B-C_D", "x=y")
	f.Fuzz(func(t *testing.T, backend, sum, optKey, optVal string) {
		env := map[string]string{EnvBackend: backend, EnvSHA256: sum, EnvOptPrefix + optKey: optVal}
		getenv := func(k string) string { return env[k] }
		environ := func() []string {
			var out []string
			for k, v := range env {
				out = append(out, k+"="+v)
			}
			return out
		}
		cfg, err := Load(Options{Home: t.TempDir(), Getenv: getenv, Environ: environ})
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "environment" || !strings.HasPrefix(ce.Field, "AILERON_STORE_") {
				t.Fatalf("error %v does not name the environment variable", err)
			}
			echoedElsewhere := strings.Contains(backend, optVal) || strings.Contains(sum, optVal) || strings.Contains(EnvOptPrefix+optKey, optVal)
			if len(optVal) > 3 && !echoedElsewhere && strings.Contains(err.Error(), optVal) {
				t.Fatalf("error %q echoes an option's value (it may be a secret)", err)
			}
			return
		}
		checkConfig(t, cfg)
		if cfg.Storage.Backend == "" {
			t.Fatal("no backend after Load")
		}
	})
}
