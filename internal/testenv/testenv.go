// Package testenv gives tests of this repository what they need from the
// machine: the repository root, plugin binaries built once per test process,
// the test tools (S3 and GCS servers, PostgreSQL), and servers started on
// loopback that are stopped when the test process ends.
//
// A test that needs a server and cannot start it fails; it never skips. The
// README's test command (make test) installs the tools first.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

// AtExit registers fn to run when Main returns (servers stop, temporary
// directories go). Functions run in reverse order of registration.
func AtExit(fn func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, fn)
}

// Main runs the tests and then every AtExit function. A package whose tests
// start servers calls it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	cleanupMu.Lock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
	cleanupMu.Unlock()
	os.Exit(code)
}

// RepoRoot returns the root of this repository (the directory holding go.mod).
func RepoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("testenv: no caller information")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Tool returns the path of a test tool binary: $AILERON_TOOLS_BIN/name, else
// <repo>/.tools/bin/name, else name on PATH. It fails t when the tool is in
// none of them, saying how to install it.
func Tool(t testing.TB, name string) string {
	t.Helper()
	var tried []string
	if dir := os.Getenv("AILERON_TOOLS_BIN"); dir != "" {
		tried = append(tried, filepath.Join(dir, name))
	}
	tried = append(tried, filepath.Join(RepoRoot(), ".tools", "bin", name))
	for _, p := range tried {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("test tool %q not found (looked in %v and PATH): run `make test-deps` (scripts/test-deps.sh) to install it", name, tried)
	return ""
}

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

// Binary builds the main package at pkg (relative to the repository root,
// e.g. "./plugins/fs/cmd/aileron-store-fs") once per test process and returns
// the path of the binary. The binary is named after the last element of pkg.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "aileron-testbin-")
		if err != nil {
			t.Fatalf("temp dir for test binaries: %v", err)
		}
		buildDir = d
		AtExit(func() { os.RemoveAll(d) })
	}
	out := filepath.Join(buildDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out
}

// Command returns an exec.Cmd for a server or helper process that the kernel
// kills when the test process dies, even by SIGKILL, so that no server
// outlives a test run.
func Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return cmd
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	return freePort(t)
}

// TempDir returns a new temporary directory removed when Main returns; unlike
// t.TempDir it outlives the test that made it, for servers shared by a
// package's tests.
func TempDir(t testing.TB, pattern string) string {
	t.Helper()
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	AtExit(func() { os.RemoveAll(d) })
	return d
}

// RequireAll reports whether AILERON_REQUIRE_ALL_BACKENDS=1: then no backend
// test and no conformance check may be skipped.
func RequireAll() bool { return os.Getenv("AILERON_REQUIRE_ALL_BACKENDS") == "1" }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
