package plugins

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func exe(t *testing.T, dir, name, body string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFindOrder(t *testing.T) {
	base := t.TempDir()
	pdir := filepath.Join(base, "plugins")
	hostDir := filepath.Join(base, "bin")
	pathDir := filepath.Join(base, "path")
	host := exe(t, hostDir, "aileron-store-host", "host")
	t.Setenv("PATH", pathDir)

	f := Finder{PluginDir: pdir, HostPath: host}

	// Nothing anywhere: fs falls back to the host binary, s3 is not found.
	loc, err := f.Find("fs")
	if err != nil || loc.Path != host || loc.Source != SourceHost || len(loc.Args) != 1 || loc.Args[0] != BuiltinArg {
		t.Fatalf("fs fallback: %+v %v", loc, err)
	}
	_, err = f.Find("s3")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "aileron-store-s3") || !strings.Contains(err.Error(), pdir) {
		t.Fatalf("s3 missing: %v", err)
	}

	// PATH.
	inPath := exe(t, pathDir, "aileron-store-s3", "path")
	loc, err = f.Find("s3")
	if err != nil || loc.Path != inPath || loc.Source != SourcePath {
		t.Fatalf("PATH: %+v %v", loc, err)
	}
	// Beside the host beats PATH.
	beside := exe(t, hostDir, "aileron-store-s3", "beside")
	loc, err = f.Find("s3")
	if err != nil || loc.Path != beside || loc.Source != SourceBeside {
		t.Fatalf("beside: %+v %v", loc, err)
	}
	// plugin_dir beats both.
	inDir := exe(t, pdir, "aileron-store-s3", "dir")
	loc, err = f.Find("s3")
	if err != nil || loc.Path != inDir || loc.Source != SourcePluginDir {
		t.Fatalf("plugin_dir: %+v %v", loc, err)
	}
	// A real fs binary beats the re-exec.
	fsBin := exe(t, pathDir, "aileron-store-fs", "fs")
	loc, err = f.Find("fs")
	if err != nil || loc.Path != fsBin || len(loc.Args) != 0 {
		t.Fatalf("fs binary: %+v %v", loc, err)
	}
	// Not executable: skipped.
	os.WriteFile(filepath.Join(pdir, "aileron-store-gcs"), []byte("x"), 0o644)
	if _, err := f.Find("gcs"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("non-executable found: %v", err)
	}
}

func TestFindBadName(t *testing.T) {
	for _, n := range []string{"", "../fs", "S3", "a/b", "-x", strings.Repeat("a", 64)} {
		if _, err := (Finder{NoPath: true}).Find(n); err == nil {
			t.Errorf("Find(%q): no error", n)
		}
	}
}

func TestList(t *testing.T) {
	base := t.TempDir()
	pdir := filepath.Join(base, "plugins")
	host := exe(t, filepath.Join(base, "bin"), "aileron-store-host", "host")
	t.Setenv("PATH", filepath.Join(base, "path"))
	exe(t, pdir, "aileron-store-acme", "x")
	exe(t, filepath.Join(base, "path"), "aileron-store-s3", "x")
	exe(t, filepath.Join(base, "path"), "aileron-store-Bad", "x")
	os.WriteFile(filepath.Join(pdir, "aileron-store-noexec"), []byte("x"), 0o644)

	got := Finder{PluginDir: pdir, HostPath: host}.List()
	var names []string
	for _, l := range got {
		names = append(names, l.Name+"@"+l.Source)
	}
	want := []string{"acme@" + SourcePluginDir, "fs@" + SourceHost, "s3@" + SourcePath}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("List = %v, want %v", names, want)
	}
}

func TestCheckPin(t *testing.T) {
	p := exe(t, t.TempDir(), "aileron-store-x", "abc")
	const sum = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // sha256("abc")
	got, err := CheckPin(p, "")
	if err != nil || got != sum {
		t.Fatalf("no pin: %q %v", got, err)
	}
	if _, err := CheckPin(p, strings.ToUpper(sum)); err != nil {
		t.Fatalf("matching pin: %v", err)
	}
	_, err = CheckPin(p, strings.Repeat("0", 64))
	if !errors.Is(err, ErrPinMismatch) || !strings.Contains(err.Error(), sum) || !strings.Contains(err.Error(), p) {
		t.Fatalf("mismatch: %v", err)
	}
	if _, err := CheckPin(filepath.Join(t.TempDir(), "none"), ""); err == nil {
		t.Fatal("missing file: no error")
	}
}
