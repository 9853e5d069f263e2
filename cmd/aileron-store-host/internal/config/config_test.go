package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) (func(string) string, func() []string) {
	return func(k string) string { return m[k] }, func() []string {
		var out []string
		for k, v := range m {
			out = append(out, k+"="+v)
		}
		return out
	}
}

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsWithoutFile(t *testing.T) {
	home := t.TempDir()
	getenv, environ := env(nil)
	cfg, err := Load(Options{Home: home, Getenv: getenv, Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != "" {
		t.Errorf("File = %q, want none", cfg.File)
	}
	if cfg.Storage.Backend != "fs" {
		t.Errorf("backend = %q, want fs", cfg.Storage.Backend)
	}
	if got, want := cfg.Storage.Config[FSDirField], filepath.Join(home, "data"); got != want {
		t.Errorf("fs dir = %q, want %q", got, want)
	}
}

func TestFullFile(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "c.yaml", `
storage:
  backend: s3
  sha256: "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
  config:
    bucket: aileron
    endpoint: http://127.0.0.1:9000
    port: 9000
    path_style: true
    ratio: 1.5
    empty:
plugin_dir: plugins
`)
	getenv, environ := env(nil)
	cfg, err := Load(Options{File: p, Home: t.TempDir(), Getenv: getenv, Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != p || cfg.Storage.Backend != "s3" {
		t.Errorf("got file %q backend %q", cfg.File, cfg.Storage.Backend)
	}
	if cfg.Storage.SHA256 != "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789" {
		t.Errorf("sha256 = %q (want lower-cased)", cfg.Storage.SHA256)
	}
	want := map[string]string{"bucket": "aileron", "endpoint": "http://127.0.0.1:9000", "port": "9000", "path_style": "true", "ratio": "1.5", "empty": ""}
	if len(cfg.Storage.Config) != len(want) {
		t.Errorf("config = %v, want %v", cfg.Storage.Config, want)
	}
	for k, v := range want {
		if got, ok := cfg.Storage.Config[k]; !ok || got != v {
			t.Errorf("config[%q] = %q, %v; want %q", k, got, ok, v)
		}
	}
	if _, ok := cfg.Storage.Config[FSDirField]; ok {
		t.Errorf("fs default dir applied to an s3 config")
	}
	if cfg.PluginDir != filepath.Join(dir, "plugins") {
		t.Errorf("plugin_dir = %q, want it relative to the file", cfg.PluginDir)
	}
}

func TestErrorsNameFileLineField(t *testing.T) {
	cases := []struct {
		name, body string
		line       int
		field, msg string
	}{
		{"unknown top", "storage:\n  backend: fs\nplugin_dri: x\n", 3, "plugin_dri", "unknown field"},
		{"unknown storage", "storage:\n  backend: fs\n  bakend: s3\n", 3, "storage.bakend", "unknown field"},
		{"bad backend", "storage:\n  backend: S3!\n", 2, "storage.backend", "not a plugin name"},
		{"bad sha", "storage:\n  sha256: 1234\n", 2, "storage.sha256", "64 hex digits"},
		{"nested config", "storage:\n  config:\n    bucket:\n      a: b\n", 4, "storage.config.bucket", "single value"},
		{"list config", "storage:\n  config:\n    - a\n", 3, "storage.config", "must be a mapping"},
		{"duplicate", "storage:\n  backend: fs\n  backend: s3\n", 3, "storage.backend", "given twice"},
		{"storage scalar", "storage: fs\n", 1, "storage", "must be a mapping"},
		{"top list", "- a\n- b\n", 1, "", "must be a mapping"},
		{"bad yaml", "storage:\n  backend: [fs\n", 1, "", "not valid YAML"},
		{"two docs", "storage: {}\n---\nplugin_dir: x\n", 2, "", "more than one"},
		{"bad opt key", "storage:\n  config:\n    \"a b\": c\n", 3, "storage.config.a b", "not a valid key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, t.TempDir(), "bad.yaml", c.body)
			getenv, environ := env(nil)
			_, err := Load(Options{File: p, Getenv: getenv, Environ: environ})
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *config.Error", err)
			}
			if ce.File != p || ce.Line != c.line || ce.Field != c.field || !strings.Contains(ce.Msg, c.msg) {
				t.Errorf("err = %#v, want file %s line %d field %q msg ~%q", ce, p, c.line, c.field, c.msg)
			}
			s := err.Error()
			if !strings.HasPrefix(s, p+":") || (c.field != "" && !strings.Contains(s, `"`+c.field+`"`)) {
				t.Errorf("message %q does not name file and field", s)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "c.yaml", "storage:\n  backend: s3\n  config:\n    bucket: a\n")
	getenv, environ := env(map[string]string{
		EnvConfig:                            p,
		EnvBackend:                           "postgres",
		EnvPluginDir:                         "/opt/plugins",
		EnvSHA256:                            strings.Repeat("0", 64),
		EnvOptPrefix + "BUCKET":              "b",
		EnvOptPrefix + "SECRET_ACCESS_KEY":   "s3cr3t",
		"AILERON_STORE_UNRELATED":            "x",
		"AILERON_STORE_OPT":                  "not a key",
		EnvOptPrefix[:len(EnvOptPrefix)-1]:   "no",
		"SOME_OTHER_" + EnvOptPrefix + "KEY": "no",
	})
	cfg, err := Load(Options{Home: dir, Getenv: getenv, Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != p {
		t.Errorf("file from %s: got %q", EnvConfig, cfg.File)
	}
	if cfg.Storage.Backend != "postgres" || cfg.PluginDir != "/opt/plugins" || cfg.Storage.SHA256 != strings.Repeat("0", 64) {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	if cfg.Storage.Config["bucket"] != "b" || cfg.Storage.Config["secret_access_key"] != "s3cr3t" || len(cfg.Storage.Config) != 2 {
		t.Errorf("config = %v", cfg.Storage.Config)
	}
}

func TestEnvOverrideErrors(t *testing.T) {
	for name, val := range map[string]string{EnvBackend: "Bad Name", EnvSHA256: "xyz"} {
		getenv, environ := env(map[string]string{name: val})
		_, err := Load(Options{Home: t.TempDir(), Getenv: getenv, Environ: environ})
		var ce *Error
		if !errors.As(err, &ce) || ce.File != "environment" || ce.Field != name {
			t.Errorf("%s=%q: err = %v, want an error naming the variable", name, val, err)
		}
	}
}

func TestFlagBeatsEnvAndHomeFile(t *testing.T) {
	home := t.TempDir()
	write(t, home, "config.yaml", "storage:\n  backend: gcs\n")
	flag := write(t, t.TempDir(), "f.yaml", "storage:\n  backend: s3\n")
	envFile := write(t, t.TempDir(), "e.yaml", "storage:\n  backend: postgres\n")

	getenv, environ := env(map[string]string{EnvConfig: envFile})
	cfg, err := Load(Options{File: flag, Home: home, Getenv: getenv, Environ: environ})
	if err != nil || cfg.Storage.Backend != "s3" {
		t.Fatalf("flag: %v %v", cfg, err)
	}
	cfg, err = Load(Options{Home: home, Getenv: getenv, Environ: environ})
	if err != nil || cfg.Storage.Backend != "postgres" {
		t.Fatalf("env: %v %v", cfg, err)
	}
	getenv, environ = env(nil)
	cfg, err = Load(Options{Home: home, Getenv: getenv, Environ: environ})
	if err != nil || cfg.Storage.Backend != "gcs" || cfg.File != filepath.Join(home, "config.yaml") {
		t.Fatalf("home file: %v %v", cfg, err)
	}
}

func TestMissingNamedFileIsError(t *testing.T) {
	getenv, environ := env(nil)
	_, err := Load(Options{File: filepath.Join(t.TempDir(), "nope.yaml"), Getenv: getenv, Environ: environ})
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("err = %v, want not-exist naming the file", err)
	}
}

func TestEmptyFile(t *testing.T) {
	for _, body := range []string{"", "\n\n", "# only a comment\n", "~\n"} {
		p := write(t, t.TempDir(), "c.yaml", body)
		getenv, environ := env(nil)
		cfg, err := Load(Options{File: p, Home: "/h", Getenv: getenv, Environ: environ})
		if err != nil || cfg.Storage.Backend != "fs" || cfg.Storage.Config[FSDirField] != "/h/data" {
			t.Errorf("body %q: %+v %v", body, cfg, err)
		}
	}
}

func TestHome(t *testing.T) {
	h, err := Home("rel", func(string) string { return "/env" })
	if err != nil || !filepath.IsAbs(h) || filepath.Base(h) != "rel" {
		t.Errorf("flag: %q %v", h, err)
	}
	h, err = Home("", func(string) string { return "/env/home" })
	if err != nil || h != "/env/home" {
		t.Errorf("env: %q %v", h, err)
	}
	t.Setenv("HOME", "/u")
	h, err = Home("", func(string) string { return "" })
	if err != nil || h != "/u/.aileron-store" {
		t.Errorf("default: %q %v", h, err)
	}
}

func TestEnsureDir(t *testing.T) {
	base := t.TempDir()
	d := filepath.Join(base, "a", "b")
	if err := EnsureDir(d); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(d)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %o, want 700", fi.Mode().Perm())
	}
	loose := filepath.Join(base, "loose")
	os.Mkdir(loose, 0o755)
	os.Chmod(loose, 0o755)
	if err := EnsureDir(loose); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("loose dir accepted: %v", err)
	}
	fi, _ = os.Stat(loose)
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("loose dir mode changed to %o", fi.Mode().Perm())
	}
	f := write(t, base, "file", "x")
	if err := EnsureDir(f); err == nil {
		t.Errorf("EnsureDir on a file: no error")
	}
}

// The pin is read as sdk.ClientOptions.SHA256 reads it: with or without a
// "sha256:" prefix, in the file and in the environment.
func TestSHA256Prefix(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	for _, v := range []string{sum, "sha256:" + sum, "SHA256:" + strings.ToUpper(sum)} {
		p := write(t, t.TempDir(), "c.yaml", "storage:\n  backend: s3\n  sha256: \""+v+"\"\n")
		getenv, environ := env(nil)
		cfg, err := Load(Options{File: p, Home: t.TempDir(), Getenv: getenv, Environ: environ})
		if err != nil || cfg.Storage.SHA256 != sum {
			t.Errorf("file sha256 %q: got %q, %v; want %q", v, cfg.Storage.SHA256, err, sum)
		}
		getenv, environ = env(map[string]string{EnvSHA256: v})
		cfg, err = Load(Options{Home: t.TempDir(), Getenv: getenv, Environ: environ})
		if err != nil || cfg.Storage.SHA256 != sum {
			t.Errorf("%s=%q: got %q, %v; want %q", EnvSHA256, v, cfg.Storage.SHA256, err, sum)
		}
	}
	for _, v := range []string{"sha256:", "sha256:" + sum[:63], "sha512:" + sum, "sha256: " + sum} {
		getenv, environ := env(map[string]string{EnvSHA256: v})
		if _, err := Load(Options{Home: t.TempDir(), Getenv: getenv, Environ: environ}); err == nil {
			t.Errorf("%s=%q accepted", EnvSHA256, v)
		}
	}
}
