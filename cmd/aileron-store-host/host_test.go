package main

// Black-box tests: they build the real aileron-store-host binary and run it
// in a temporary home, as an operator would, with no controlling terminal.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	hostapi "github.com/ALRubinger/aileron-store/api/hostapi/v1"
	"github.com/ALRubinger/aileron-store/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const alicePass = "correct horse battery staple"

// host runs the binary in one home directory.
type host struct {
	t    *testing.T
	bin  string
	home string
	env  []string // extra environment for every run
}

func newHost(t *testing.T) *host {
	t.Helper()
	bin := testenv.Binary(t, "./cmd/aileron-store-host")
	return &host{t: t, bin: bin, home: filepath.Join(t.TempDir(), "home")}
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %s", r.code, r.stdout, r.stderr)
}

// run executes the host with args, stdin and extra environment. Runs have no
// controlling terminal (Setsid), so a passphrase prompt cannot hang.
func (h *host) run(stdin []byte, env []string, args ...string) result {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(cleanEnv(), "AILERON_STORE_HOME="+h.home)
	cmd.Env = append(cmd.Env, h.env...)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			h.t.Fatalf("running %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	if ctx.Err() != nil {
		h.t.Fatalf("%v timed out\n%s", args, errb.String())
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// cleanEnv is the test's environment without aileron variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AILERON_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ok runs and fails the test unless the exit code is 0.
func (h *host) ok(stdin []byte, env []string, args ...string) result {
	h.t.Helper()
	r := h.run(stdin, env, args...)
	if r.code != 0 {
		h.t.Fatalf("%v: %s", args, r)
	}
	return r
}

// fail runs and fails the test unless the exit code is code and stderr
// matches every pattern.
func (h *host) fail(code int, patterns []string, stdin []byte, env []string, args ...string) result {
	h.t.Helper()
	r := h.run(stdin, env, args...)
	if r.code != code {
		h.t.Fatalf("%v: want exit %d, got %s", args, code, r)
	}
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(r.stderr) {
			h.t.Fatalf("%v: stderr does not match %q:\n%s", args, p, r.stderr)
		}
	}
	return r
}

var aliceEnv = []string{"AILERON_VAULT_PASSPHRASE=" + alicePass}

// setup creates alice (sealed), bob (no passphrase) and vault "team" with
// alice as admin.
func (h *host) setup() {
	h.t.Helper()
	h.ok(nil, aliceEnv, "identity", "new", "alice")
	h.ok(nil, nil, "identity", "new", "bob", "--no-passphrase")
	h.ok(nil, aliceEnv, "vault", "create", "team", "--as", "alice")
}

func (h *host) recipient(name string) string {
	h.t.Helper()
	return strings.TrimSpace(h.ok(nil, nil, "identity", "show", name, "--recipient").stdout)
}

func allBytes() []byte {
	b := make([]byte, 0, 512)
	for i := 0; i < 512; i++ {
		b = append(b, byte(i))
	}
	return b
}

func TestFullScenario(t *testing.T) {
	h := newHost(t)
	h.setup()

	// Identities.
	r := h.ok(nil, nil, "identity", "list")
	if !regexp.MustCompile(`(?m)^alice\s+\S+\s+true$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^bob\s+\S+\s+false$`).MatchString(r.stdout) {
		t.Fatalf("identity list:\n%s", r.stdout)
	}
	show := h.ok(nil, nil, "identity", "show", "alice").stdout
	if !strings.Contains(show, "recipient:   aileron1") || !regexp.MustCompile(`fingerprint: [0-9a-f]{4}(-[0-9a-f]{4}){3}`).MatchString(show) {
		t.Fatalf("identity show:\n%s", show)
	}

	// Credentials: exact bytes in and out, from stdin and from a file.
	h.ok([]byte("ghp_token\n"), aliceEnv, "cred", "put", "team", "github-token", "--as", "alice")
	bin := filepath.Join(t.TempDir(), "blob")
	os.WriteFile(bin, allBytes(), 0o600)
	h.ok(nil, aliceEnv, "cred", "put", "team", "signing-key", "--file", bin, "--as", "alice")
	h.ok(nil, aliceEnv, "cred", "put", "team", "empty", "--as", "alice")
	if got := h.ok(nil, aliceEnv, "cred", "get", "team", "github-token", "--as", "alice").stdout; got != "ghp_token\n" {
		t.Fatalf("cred get = %q", got)
	}
	if got := h.ok(nil, aliceEnv, "cred", "get", "team", "signing-key", "--as", "alice").stdout; got != string(allBytes()) {
		t.Fatalf("binary cred differs (%d bytes)", len(got))
	}
	if got := h.ok(nil, aliceEnv, "cred", "get", "team", "empty", "--as", "alice").stdout; got != "" {
		t.Fatalf("empty cred = %q", got)
	}
	if got := h.ok(nil, aliceEnv, "cred", "list", "team", "--as", "alice").stdout; got != "empty\ngithub-token\nsigning-key\n" {
		t.Fatalf("cred list = %q", got)
	}
	h.ok([]byte("ghp_rotated"), aliceEnv, "cred", "put", "team", "github-token", "--as", "alice")
	h.ok(nil, aliceEnv, "cred", "rm", "team", "empty", "--as", "alice")
	h.fail(1, []string{`credential not found`, `"team"`}, nil, aliceEnv, "cred", "get", "team", "empty", "--as", "alice")

	// Bob before being granted.
	h.fail(1, []string{`for identity "bob"`, `not a member`}, nil, nil, "cred", "get", "team", "github-token", "--as", "bob")

	// Grant bob via a recipient file.
	rf := filepath.Join(t.TempDir(), "bob.recipient")
	os.WriteFile(rf, []byte(h.recipient("bob")+"\n"), 0o600)
	r = h.ok(nil, aliceEnv, "vault", "grant", "team", rf, "--name", "bob", "--as", "alice")
	if !strings.Contains(r.stdout, `granted "bob"`) {
		t.Fatalf("grant output %q", r.stdout)
	}
	if got := h.ok(nil, nil, "cred", "get", "team", "github-token", "--as", "bob").stdout; got != "ghp_rotated" {
		t.Fatalf("bob reads %q", got)
	}
	if got := h.ok(nil, nil, "vault", "list", "--as", "bob").stdout; got != "team\n" {
		t.Fatalf("bob's vault list = %q", got)
	}
	members := h.ok(nil, aliceEnv, "vault", "members", "team", "--as", "alice").stdout
	if !regexp.MustCompile(`(?m)^alice\s+admin\s`).MatchString(members) || !regexp.MustCompile(`(?m)^bob\s+member\s`).MatchString(members) {
		t.Fatalf("members:\n%s", members)
	}
	// A member who is not an admin cannot grant.
	h.fail(1, []string{`not an admin`, `"bob"`}, nil, nil, "vault", "grant", "team", h.recipient("alice"), "--name", "x", "--as", "bob")

	// A value bob writes last is quarantined by his revoke.
	h.ok([]byte("bob's note"), nil, "cred", "put", "team", "bob-note", "--as", "bob")

	// Revoke bob: the report lists what bob could read and what it
	// quarantined; bob is then denied.
	r = h.ok(nil, aliceEnv, "vault", "revoke", "team", "bob", "--as", "alice")
	if !strings.Contains(r.stdout, `revoked "bob"`) || !strings.Contains(r.stdout, "  github-token\n") || !strings.Contains(r.stdout, "  signing-key\n") ||
		!strings.Contains(r.stdout, "  bob-note (last written by the revoked member)\n") {
		t.Fatalf("revoke output:\n%s", r.stdout)
	}
	h.fail(1, []string{`credential not found`}, nil, aliceEnv, "cred", "get", "team", "bob-note", "--as", "alice")
	if got := h.ok(nil, aliceEnv, "vault", "quarantine", "team", "--as", "alice").stdout; !strings.HasPrefix(got, "bob-note\twritten by ") {
		t.Fatalf("quarantine list = %q", got)
	}
	h.ok(nil, aliceEnv, "vault", "quarantine", "team", "--restore", "bob-note", "--as", "alice")
	if got := h.ok(nil, aliceEnv, "cred", "get", "team", "bob-note", "--as", "alice").stdout; got != "bob's note" {
		t.Fatalf("restored bob-note = %q", got)
	}
	h.fail(1, []string{`not a member`, `"bob"`, `"team"`}, nil, nil, "cred", "get", "team", "github-token", "--as", "bob")
	if got := h.ok(nil, aliceEnv, "cred", "get", "team", "github-token", "--as", "alice").stdout; got != "ghp_rotated" {
		t.Fatalf("alice after revoke reads %q", got)
	}

	// Rotate, then everything is still readable.
	h.ok(nil, aliceEnv, "vault", "rotate", "team", "--as", "alice")
	h.ok(nil, aliceEnv, "vault", "rotate", "team", "--resume", "--as", "alice")
	if got := h.ok(nil, aliceEnv, "cred", "get", "team", "signing-key", "--as", "alice").stdout; got != string(allBytes()) {
		t.Fatalf("after rotate: %d bytes", len(got))
	}
	if got := h.ok(nil, aliceEnv, "vault", "list", "--as", "alice").stdout; got != "team\n" {
		t.Fatalf("vault list = %q", got)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	h := newHost(t)
	h.setup()
	const secret = "sk_live_DO_NOT_PRINT"
	var all strings.Builder
	rec := func(r result) { all.WriteString(r.stdout + r.stderr) }
	rec(h.ok([]byte(secret), aliceEnv, "--log-level", "trace", "cred", "put", "team", "k", "--as", "alice"))
	rec(h.ok(nil, aliceEnv, "--log-level", "trace", "vault", "rotate", "team", "--as", "alice"))
	rec(h.ok(nil, aliceEnv, "--log-level", "trace", "--log-format", "json", "cred", "list", "team", "--as", "alice"))
	rec(h.run(nil, []string{"AILERON_VAULT_PASSPHRASE=wrong-guess"}, "--log-level", "trace", "cred", "get", "team", "k", "--as", "alice"))
	for _, s := range []string{secret, alicePass, "wrong-guess"} {
		if strings.Contains(all.String(), s) {
			t.Fatalf("%q appeared in the output:\n%s", s, all.String())
		}
	}
}

func TestWrongPassphrase(t *testing.T) {
	h := newHost(t)
	h.setup()
	h.fail(1, []string{`^error: wrong passphrase for identity "alice"\n$`}, nil, []string{"AILERON_VAULT_PASSPHRASE=guess"}, "cred", "list", "team", "--as", "alice")
	// From a passphrase file too; the file wins over the environment.
	pf := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pf, []byte(alicePass+"\n"), 0o600)
	h.ok(nil, []string{"AILERON_VAULT_PASSPHRASE=guess"}, "--passphrase-file", pf, "cred", "list", "team", "--as", "alice")
	os.WriteFile(pf, []byte("nope\n"), 0o600)
	h.fail(1, []string{`wrong passphrase for identity "alice"`}, nil, nil, "--passphrase-file", pf, "cred", "list", "team", "--as", "alice")
}

func TestNoPassphraseNonInteractive(t *testing.T) {
	h := newHost(t)
	start := time.Now()
	h.fail(1, []string{`no passphrase available for identity "alice"`, `AILERON_VAULT_PASSPHRASE`, `--passphrase-file`}, nil, nil, "identity", "new", "alice")
	h.ok(nil, aliceEnv, "identity", "new", "alice")
	h.fail(1, []string{`no passphrase available for identity "alice"`}, nil, nil, "vault", "create", "v", "--as", "alice")
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("took %v: a missing passphrase must fail at once", d)
	}
}

func TestNonMemberDenied(t *testing.T) {
	h := newHost(t)
	h.setup()
	h.ok([]byte("v"), aliceEnv, "cred", "put", "team", "k", "--as", "alice")
	h.ok(nil, nil, "identity", "new", "carol", "--no-passphrase")
	for _, args := range [][]string{
		{"cred", "get", "team", "k", "--as", "carol"},
		{"cred", "list", "team", "--as", "carol"},
		{"cred", "put", "team", "k", "--as", "carol"},
		{"vault", "members", "team", "--as", "carol"},
	} {
		r := h.fail(1, []string{`not a member`, `"carol"`}, []byte("x"), nil, args...)
		if r.stdout != "" {
			t.Fatalf("%v printed %q", args, r.stdout)
		}
	}
	if got := h.ok(nil, nil, "vault", "list", "--as", "carol").stdout; got != "" {
		t.Fatalf("carol lists %q", got)
	}
	// The value is untouched by carol's attempt.
	if got := h.ok(nil, aliceEnv, "cred", "get", "team", "k", "--as", "alice").stdout; got != "v" {
		t.Fatalf("value changed: %q", got)
	}
}

func TestRevokedMemberDenied(t *testing.T) {
	h := newHost(t)
	h.setup()
	h.ok([]byte("before"), aliceEnv, "cred", "put", "team", "a", "--as", "alice")
	h.ok(nil, aliceEnv, "vault", "grant", "team", h.recipient("bob"), "--name", "bob", "--as", "alice")
	h.ok(nil, nil, "cred", "get", "team", "a", "--as", "bob")
	r := h.ok(nil, aliceEnv, "vault", "revoke", "team", "bob", "--as", "alice")
	if !strings.Contains(r.stdout, "  a\n") {
		t.Fatalf("revoke report:\n%s", r.stdout)
	}
	h.ok([]byte("after"), aliceEnv, "cred", "put", "team", "b", "--as", "alice")
	for _, c := range []string{"a", "b"} {
		r := h.fail(1, []string{`not a member`}, nil, nil, "cred", "get", "team", c, "--as", "bob")
		if r.stdout != "" {
			t.Fatalf("revoked bob got %q", r.stdout)
		}
	}
	h.fail(1, []string{`not a member`}, nil, nil, "cred", "list", "team", "--as", "bob")
}

// dataFiles lists the fs backend's blobs (not its lock files).
func dataFiles(t *testing.T, dir, sub string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && !strings.Contains(p, "#") && strings.Contains(p, sub) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestTamperedBlobReported(t *testing.T) {
	h := newHost(t)
	h.setup()
	h.ok([]byte("value"), aliceEnv, "cred", "put", "team", "k", "--as", "alice")
	recs := dataFiles(t, filepath.Join(h.home, "data"), "/r+/")
	if len(recs) != 1 {
		t.Fatalf("want 1 record file, got %v", recs)
	}
	b, _ := os.ReadFile(recs[0])
	b[len(b)-3] ^= 0x40
	os.WriteFile(recs[0], b, 0o600)
	rid := filepath.Base(recs[0])
	r := h.fail(1, []string{`^error: tampered data: `, `"fs"`}, nil, aliceEnv, "cred", "get", "team", "k", "--as", "alice")
	if !strings.Contains(r.stderr, rid[:16]) {
		t.Fatalf("error does not name the record %s:\n%s", rid, r.stderr)
	}
	if r.stdout != "" {
		t.Fatalf("tampered read printed %q", r.stdout)
	}
}

func TestRollbackReported(t *testing.T) {
	h := newHost(t)
	h.setup()
	h.ok([]byte("v1"), aliceEnv, "cred", "put", "team", "k", "--as", "alice")
	data := filepath.Join(h.home, "data")
	snap := filepath.Join(t.TempDir(), "snap")
	if out, err := exec.Command("cp", "-a", data, snap).CombinedOutput(); err != nil {
		t.Fatalf("snapshot: %v %s", err, out)
	}
	h.ok(nil, aliceEnv, "vault", "rotate", "team", "--as", "alice")
	h.ok(nil, aliceEnv, "cred", "get", "team", "k", "--as", "alice") // pins the new head
	// The backend is rolled back to the snapshot (an old, validly signed state).
	os.RemoveAll(data)
	if out, err := exec.Command("cp", "-a", snap, data).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v %s", err, out)
	}
	h.fail(1, []string{`^error: rolled-back data: `, `"fs"`}, nil, aliceEnv, "cred", "get", "team", "k", "--as", "alice")
}

func TestBadConfigReported(t *testing.T) {
	h := newHost(t)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("storage:\n  backend: fs\n  bakend: s3\n"), 0o600)
	h.fail(1, []string{regexp.QuoteMeta(cfg) + `:3: field "storage.bakend": unknown field`}, nil, nil, "--config", cfg, "vault", "list", "--as", "x")
	h.fail(1, []string{regexp.QuoteMeta(cfg) + `:3: field "storage.bakend"`}, nil, []string{"AILERON_STORE_CONFIG=" + cfg}, "plugin", "list")
	// A field the plugin rejects is named by the plugin.
	os.WriteFile(cfg, []byte("storage:\n  backend: fs\n  config:\n    path: "+filepath.Join(t.TempDir(), "d")+"\n    colour: blue\n"), 0o600)
	h.ok(nil, nil, "identity", "new", "bob", "--no-passphrase")
	h.fail(1, []string{`backend "fs" configuration`, `"colour"`}, nil, nil, "--config", cfg, "vault", "list", "--as", "bob")
	// A missing plugin is named.
	os.WriteFile(cfg, []byte("storage:\n  backend: nosuch\n"), 0o600)
	h.fail(1, []string{`backend "nosuch"`, `aileron-store-nosuch`}, nil, nil, "--config", cfg, "vault", "list", "--as", "bob")
	// A pin mismatch refuses to start the plugin.
	os.WriteFile(cfg, []byte("storage:\n  sha256: "+strings.Repeat("ab", 32)+"\n"), 0o600)
	h.fail(1, []string{`plugin pin mismatch`}, nil, nil, "--config", cfg, "vault", "list", "--as", "bob")
	// A bad environment override is named.
	h.fail(1, []string{`AILERON_STORE_BACKEND`}, nil, []string{"AILERON_STORE_BACKEND=Not Valid"}, "vault", "list", "--as", "bob")
}

func TestExitCodes(t *testing.T) {
	h := newHost(t)
	h.fail(2, []string{`unknown command "nope"`}, nil, nil, "nope")
	h.fail(2, []string{`unknown command "nope"`}, nil, nil, "vault", "nope")
	h.fail(2, []string{`needs a subcommand`}, nil, nil, "cred")
	h.fail(2, []string{`needs VAULT and NAME`}, nil, nil, "cred", "get", "team")
	h.fail(2, []string{`unknown flag: --bogus`}, nil, nil, "cred", "list", "team", "--bogus")
	h.fail(2, []string{`--as NAME is required`}, nil, nil, "cred", "list", "team")
	h.fail(2, []string{`identity name "a/b"`}, nil, nil, "identity", "new", "a/b")
	h.fail(2, []string{`--log-level "loud"`}, nil, nil, "--log-level", "loud", "identity", "list")
	h.fail(2, []string{`--name MEMBER is required`}, nil, nil, "vault", "grant", "team", "x", "--as", "a")
	r := h.ok(nil, nil, "--help")
	for _, c := range []string{"identity", "vault", "cred", "serve", "migrate", "plugin", "version"} {
		if !regexp.MustCompile(`(?m)^  ` + c + `\s`).MatchString(r.stdout) {
			t.Errorf("--help does not list %q:\n%s", c, r.stdout)
		}
	}
	if !strings.Contains(h.ok(nil, nil, "vault", "grant", "--help").stdout, "Examples:") {
		t.Error("vault grant --help has no examples")
	}
	if r := h.ok(nil, nil, "version"); !strings.HasPrefix(r.stdout, "aileron-store-host ") {
		t.Errorf("version: %q", r.stdout)
	}
	h.fail(1, []string{`no such identity "ghost"`}, nil, nil, "cred", "list", "team", "--as", "ghost")
	h.ok(nil, nil, "identity", "new", "bob", "--no-passphrase")
	h.fail(1, []string{`identity "bob" already exists`}, nil, nil, "identity", "new", "bob", "--no-passphrase")
}

func TestHomeIsPrivate(t *testing.T) {
	h := newHost(t)
	h.ok(nil, nil, "identity", "new", "bob", "--no-passphrase")
	for _, d := range []string{h.home, filepath.Join(h.home, "identities")} {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want 0700", d, fi.Mode(), err)
		}
	}
	fi, err := os.Stat(filepath.Join(h.home, "identities", "bob.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("identity file: %v %v, want 0600", fi.Mode(), err)
	}
	loose := filepath.Join(t.TempDir(), "loose")
	os.Mkdir(loose, 0o755)
	os.Chmod(loose, 0o755)
	lh := &host{t: t, bin: h.bin, home: loose}
	lh.fail(1, []string{`accessible by other users`, `chmod 700`}, nil, nil, "identity", "list")
}

func TestPluginListAndVerify(t *testing.T) {
	h := newHost(t)
	r := h.ok(nil, nil, "plugin", "list")
	if !regexp.MustCompile(`(?m)^\*\s+fs\s+host binary \(built-in fs\)\s+\S+ __plugin-fs\s+[0-9a-f]{64}$`).MatchString(r.stdout) {
		t.Fatalf("plugin list:\n%s", r.stdout)
	}
	r = h.ok(nil, nil, "plugin", "verify", "fs")
	if !strings.HasPrefix(r.stdout, "ok    fs") || !strings.Contains(r.stdout, "handshake ok") {
		t.Fatalf("plugin verify:\n%s", r.stdout)
	}
	// Pinned to the host binary's own hash: accepted.
	sum := regexp.MustCompile(`[0-9a-f]{64}`).FindString(h.ok(nil, nil, "plugin", "list").stdout)
	r = h.ok(nil, []string{"AILERON_STORE_SHA256=" + sum}, "plugin", "verify", "fs")
	if !strings.Contains(r.stdout, "pin matches") {
		t.Fatalf("pinned verify:\n%s", r.stdout)
	}
	h.fail(1, []string{`failed verification`}, nil, []string{"AILERON_STORE_SHA256=" + strings.Repeat("0", 64)}, "plugin", "verify", "fs")
}

func TestRunningBinaryAsPluginByHandExplains(t *testing.T) {
	h := newHost(t)
	r := h.run(nil, nil, "__plugin-fs")
	if r.code != 1 || !strings.Contains(r.stderr, "not meant to be run by hand") {
		t.Fatalf("%s", r)
	}
}

func TestServe(t *testing.T) {
	h := newHost(t)
	h.setup()
	h.ok([]byte("tok-1"), aliceEnv, "cred", "put", "team", "github-token", "--as", "alice")

	sv := h.startServe()
	c, sock, ctx := sv.client, sv.socket, sv.ctx
	fi, _ := os.Stat(sock)
	di, _ := os.Stat(filepath.Dir(sock))
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Fatalf("socket %v in dir %v, want 0600 in 0700", fi.Mode(), di.Mode())
	}

	if _, err := c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("wrong")}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "bob"}); status.Code(err) != codes.PermissionDenied && status.Code(err) != codes.NotFound {
		t.Fatalf("non-member: %v", err)
	}
	u, err := c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte(alicePass)})
	if err != nil {
		t.Fatalf("unlock: %v", err)
	}
	g, err := c.Get(ctx, &hostapi.GetRequest{Session: u.Session, Name: "github-token"})
	if err != nil || string(g.Value) != "tok-1" {
		t.Fatalf("get: %v %v", g, err)
	}
	if _, err := c.Put(ctx, &hostapi.PutRequest{Session: u.Session, Name: "runtime-key", Value: []byte("rk")}); err != nil {
		t.Fatal(err)
	}
	l, err := c.List(ctx, &hostapi.ListRequest{Session: u.Session})
	if err != nil || strings.Join(l.Names, ",") != "github-token,runtime-key" {
		t.Fatalf("list: %v %v", l, err)
	}
	if _, err := c.Delete(ctx, &hostapi.DeleteRequest{Session: u.Session, Name: "github-token"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock(ctx, &hostapi.LockRequest{Session: u.Session}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, &hostapi.GetRequest{Session: u.Session, Name: "runtime-key"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("after lock: %v", err)
	}

	// Stop: exits 0 and removes the socket; the passphrase never reached the log.
	out := sv.stop()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	if strings.Contains(out, alicePass) {
		t.Fatal("passphrase in serve's output")
	}
	// The writes made through the API are visible to the CLI.
	if got := h.ok(nil, aliceEnv, "cred", "list", "team", "--as", "alice").stdout; got != "runtime-key\n" {
		t.Fatalf("after serve: %q", got)
	}
}

// writeConfig writes a config file for backend with the given storage.config.
func writeConfig(t *testing.T, backend string, cfg map[string]string) string {
	t.Helper()
	return writeConfigFile(t, backend, "", cfg)
}

// setupFast creates unsealed identities ops (admin of vault team) and bob:
// tests that exercise backends rather than passphrases skip Argon2id.
func (h *host) setupFast(cfgArgs ...string) {
	h.t.Helper()
	h.ok(nil, nil, "identity", "new", "ops", "--no-passphrase")
	h.ok(nil, nil, "identity", "new", "bob", "--no-passphrase")
	h.ok(nil, nil, append(cfgArgs, "vault", "create", "team", "--as", "ops")...)
}

// fillVault stores n credentials in team as ops and returns them by name.
func fillVault(h *host, n int, cfgArgs ...string) map[string]string {
	h.t.Helper()
	want := map[string]string{}
	for i := 0; i < n; i++ {
		name, val := fmt.Sprintf("cred-%02d", i), fmt.Sprintf("value %d %s", i, strings.Repeat("x", i*37))
		h.ok([]byte(val), nil, append(cfgArgs, "cred", "put", "team", name, "--as", "ops")...)
		want[name] = val
	}
	return want
}

// checkVault reads every credential back as who through the backend in
// cfgArgs.
func checkVault(h *host, want map[string]string, who string, cfgArgs ...string) {
	h.t.Helper()
	list := h.ok(nil, nil, append(cfgArgs, "cred", "list", "team", "--as", who)...).stdout
	if n := strings.Count(list, "\n"); n != len(want) {
		h.t.Fatalf("%d credentials listed, want %d:\n%s", n, len(want), list)
	}
	for name, val := range want {
		if got := h.ok(nil, nil, append(cfgArgs, "cred", "get", "team", name, "--as", who)...).stdout; got != val {
			h.t.Fatalf("%s via %v: got %q want %q", name, cfgArgs, got, val)
		}
	}
}

func TestMigrateFSToFS(t *testing.T) {
	h := newHost(t)
	h.setupFast()
	h.ok(nil, nil, "vault", "grant", "team", h.recipient("bob"), "--name", "bob", "--as", "ops")
	want := fillVault(h, 5)

	target := writeConfig(t, "fs", map[string]string{"path": filepath.Join(t.TempDir(), "fs2")})
	r := h.ok(nil, nil, "migrate", "--to", target)
	if !regexp.MustCompile(`migrated \d+ blobs .* from backend "fs" to backend "fs"`).MatchString(r.stdout) || !strings.Contains(r.stdout, "verified") {
		t.Fatalf("migrate output:\n%s", r)
	}
	if !strings.Contains(r.stderr, `progress`) {
		t.Errorf("no structured progress lines on a non-terminal stderr:\n%s", r.stderr)
	}
	checkVault(h, want, "ops", "--config", target)
	if got := h.ok(nil, nil, "--config", target, "cred", "get", "team", "cred-01", "--as", "bob").stdout; got != want["cred-01"] {
		t.Fatalf("bob via target: %q", got)
	}
	// A second migration into the now non-empty target is refused; --resume
	// finds everything already there.
	h.fail(1, []string{`target backend is not empty`}, nil, nil, "migrate", "--to", target)
	r = h.ok(nil, nil, "migrate", "--to", target, "--resume")
	if !strings.Contains(r.stdout, " 0 copied") {
		t.Fatalf("resume into a complete target copied something:\n%s", r.stdout)
	}
	// Migrating to the same backend is refused.
	same := writeConfig(t, "fs", map[string]string{"path": filepath.Join(h.home, "data")})
	h.fail(1, []string{`same backend`}, nil, nil, "migrate", "--to", same)
	h.fail(2, []string{`--to FILE is required`}, nil, nil, "migrate")
}

// served is a running `serve` process and a client of it.
type served struct {
	client hostapi.VaultClient
	socket string
	ctx    context.Context
	stop   func() string // SIGTERM, wait for exit 0, return its stderr
}

func (h *host) startServe(args ...string) *served {
	t := h.t
	t.Helper()
	sock := filepath.Join(t.TempDir(), "run", "api.sock")
	cmd := testenv.Command(h.bin, append([]string{"serve", "--socket", sock, "--session-ttl", "1m"}, args...)...)
	cmd.Env = append(cleanEnv(), "AILERON_STORE_HOME="+h.home)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("serve exited early: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket %s did not appear\n%s", sock, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &served{client: hostapi.NewVaultClient(conn), socket: sock, ctx: ctx, stop: func() string {
		t.Helper()
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			stopped = true
			if err != nil {
				t.Fatalf("serve exit: %v\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop on SIGTERM")
		}
		return stderr.String()
	}}
}

// TestCrashDuringRotateResumes kills the host with SIGKILL in the middle of
// a rotation's sweep; every credential must stay readable, and the next admin
// operation completes the rotation.
func TestCrashDuringRotateResumes(t *testing.T) {
	h := newHost(t)
	h.setupFast()
	const n = 800
	sv := h.startServe()
	u, err := sv.client.Unlock(sv.ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := sv.client.Put(sv.ctx, &hostapi.PutRequest{Session: u.Session, Name: fmt.Sprintf("c%04d", i), Value: []byte(fmt.Sprintf("value-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	sv.stop()

	// Rotate, and SIGKILL the host at its first progress line (after the
	// first page of the sweep).
	cmd := testenv.Command(h.bin, "vault", "rotate", "team", "--as", "ops")
	cmd.Env = append(cleanEnv(), "AILERON_STORE_HOME="+h.home)
	pr, pw, _ := os.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	killed := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		var seen strings.Builder
		for {
			k, err := pr.Read(buf)
			seen.Write(buf[:k])
			if strings.Contains(seen.String(), "progress") {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the host and its plugin
				close(killed)
				return
			}
			if err != nil {
				close(killed)
				return
			}
		}
	}()
	cmd.Wait()
	<-killed
	pr.Close()

	// Every credential is readable right after the crash.
	list := h.ok(nil, nil, "cred", "list", "team", "--as", "ops").stdout
	if c := strings.Count(list, "\n"); c != n {
		t.Fatalf("%d credentials listed after the crash, want %d", c, n)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		if got := h.ok(nil, nil, "cred", "get", "team", fmt.Sprintf("c%04d", i), "--as", "ops").stdout; got != fmt.Sprintf("value-%d", i) {
			t.Fatalf("c%04d after the crash: %q", i, got)
		}
	}
	// The next admin operation completes an interrupted rotation first.
	r := h.ok(nil, nil, "vault", "grant", "team", h.recipient("bob"), "--name", "bob", "--as", "ops")
	if strings.Contains(r.stderr, "interrupted rotation") {
		t.Logf("the crash interrupted the sweep; grant completed it: %s", strings.TrimSpace(r.stderr))
	} else {
		t.Logf("the crash did not leave a rotation pending (killed before the commit or after the sweep)")
	}
	r = h.ok(nil, nil, "vault", "rotate", "team", "--resume", "--as", "ops")
	if !strings.Contains(r.stdout, "no interrupted rotation left") || strings.Contains(r.stderr, "interrupted rotation") {
		t.Fatalf("rotation still pending after the grant:\n%s", r)
	}
	sv = h.startServe()
	u, err = sv.client.Unlock(sv.ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		g, err := sv.client.Get(sv.ctx, &hostapi.GetRequest{Session: u.Session, Name: fmt.Sprintf("c%04d", i)})
		if err != nil || string(g.Value) != fmt.Sprintf("value-%d", i) {
			t.Fatalf("bob reads c%04d: %v %v", i, g, err)
		}
	}
	sv.stop()
}
