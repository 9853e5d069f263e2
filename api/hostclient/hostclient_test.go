package hostclient_test

// These tests run the real aileron-store-host binary: identities and a
// vault made with its CLI, then `serve` in a process of its own, and the
// client (in this process, and in a program of another module) against it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/api/hostclient"
	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const alicePass = "alice's passphrase"

type host struct {
	t    *testing.T
	bin  string
	home string
}

func (h *host) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AILERON_") {
			env = append(env, kv)
		}
	}
	return append(append(env, "AILERON_STORE_HOME="+h.home), extra...)
}

func (h *host) cli(stdin string, env []string, args ...string) string {
	h.t.Helper()
	cmd := exec.Command(h.bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Env = h.env(env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		h.t.Fatalf("%v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// newHost makes alice (sealed, admin of "team"), bob (no passphrase,
// member) and carol (no passphrase, not a member), and stores github-token.
func newHost(t *testing.T) *host {
	h := &host{t: t, bin: testenv.Binary(t, "./cmd/aileron-store-host"), home: filepath.Join(t.TempDir(), "home")}
	alice := []string{"AILERON_VAULT_PASSPHRASE=" + alicePass}
	h.cli("", alice, "identity", "new", "alice")
	h.cli("", nil, "identity", "new", "bob", "--no-passphrase")
	h.cli("", nil, "identity", "new", "carol", "--no-passphrase")
	h.cli("", alice, "vault", "create", "team", "--as", "alice")
	h.cli("gh-t0ken-value", alice, "cred", "put", "team", "github-token", "--as", "alice")
	bob := strings.TrimSpace(h.cli("", nil, "identity", "show", "bob", "--recipient"))
	h.cli("", alice, "vault", "grant", "team", bob, "--name", "bob", "--as", "alice")
	return h
}

// serve starts `serve` on a socket and returns the socket and a function
// that stops it (SIGTERM, exit 0).
func (h *host) serve(sock string, args ...string) func() {
	t := h.t
	t.Helper()
	cmd := testenv.Command(h.bin, append([]string{"serve", "--socket", sock}, args...)...)
	cmd.Env = h.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	done := false
	stop := func() {
		t.Helper()
		if done {
			return
		}
		done = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("serve: %v\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("serve did not stop on SIGTERM")
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return stop
		}
		select {
		case err := <-exited:
			done = true
			t.Fatalf("serve exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket at %s\n%s", sock, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClientAgainstServe(t *testing.T) {
	h := newHost(t)
	sock := filepath.Join(t.TempDir(), "run", "serve.sock")
	logPath := filepath.Join(t.TempDir(), "access.log")
	stop := h.serve(sock, "--audit-log", logPath)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if _, err := hostclient.Dial(ctx, filepath.Join(t.TempDir(), "absent.sock"), nil); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("dial without a server: %v", err)
	}
	c, err := hostclient.Dial(ctx, sock, &hostclient.Options{SessionTTL: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	for _, tc := range []struct {
		vault, identity, pass string
		want                  []error
	}{
		{"team", "alice", "wrong", []error{core.ErrWrongPassphrase, hostclient.ErrWrongPassphrase}},
		{"team", "mallory", "", []error{hostclient.ErrUnknownIdentity}},
		{"nope", "alice", alicePass, []error{core.ErrVaultNotFound}},
		{"team", "carol", "", []error{core.ErrVaultNotFound}}, // a non-member cannot learn the vault exists
		{"", "alice", "", []error{sdk.ErrInvalidArgument}},
	} {
		_, err := c.Unlock(ctx, tc.vault, tc.identity, []byte(tc.pass))
		for _, w := range tc.want {
			if !errors.Is(err, w) {
				t.Errorf("Unlock(%q, %q): %v, want errors.Is %v", tc.vault, tc.identity, err, w)
			}
		}
	}

	v, err := c.Unlock(ctx, "team", "alice", []byte(alicePass))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(v.Expires()); d < 4*time.Minute || d > 5*time.Minute+2*time.Second {
		t.Errorf("session expires in %v, want about the 5m asked for", d)
	}
	got, err := v.Get(ctx, "github-token")
	if err != nil || string(got) != "gh-t0ken-value" {
		t.Fatalf("Get: %q %v", got, err)
	}
	big := bytes.Repeat([]byte{0, 1, 0xff}, 300_000) // 900 KB: message limits set on both sides
	if err := v.Put(ctx, "big", big); err != nil {
		t.Fatal(err)
	}
	if got, err := v.Get(ctx, "big"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Get big: %d bytes, %v", len(got), err)
	}
	names, err := v.List(ctx)
	if err != nil || strings.Join(names, ",") != "big,github-token" {
		t.Fatalf("List: %v %v", names, err)
	}
	if err := v.Delete(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(ctx, "big"); !errors.Is(err, core.ErrCredentialNotFound) || !errors.Is(err, hostclient.ErrCredentialNotFound) {
		t.Fatalf("Get deleted: %v", err)
	}
	if err := v.Delete(ctx, "big"); !errors.Is(err, core.ErrCredentialNotFound) {
		t.Fatalf("Delete missing: %v", err)
	}

	// bob, no passphrase, reads too; a second session of the same client.
	vb, err := c.Unlock(ctx, "team", "bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := vb.Get(ctx, "github-token"); err != nil || string(got) != "gh-t0ken-value" {
		t.Fatalf("bob: %q %v", got, err)
	}

	if err := v.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.Lock(ctx); err != nil {
		t.Fatalf("second Lock: %v", err)
	}
	if _, err := v.Get(ctx, "github-token"); !errors.Is(err, core.ErrLocked) {
		t.Fatalf("Get after Lock: %v", err)
	}

	// A server restart ends every session: bob's handle learns it from the
	// server (SESSION_ENDED) once the client has reconnected.
	stop()
	if _, err := vb.Get(ctx, "github-token"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("Get with the server down: %v", err)
	}
	h.serve(sock, "--audit-log", logPath)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := vb.Get(ctx, "github-token")
		if errors.Is(err, core.ErrLocked) {
			break
		}
		if !errors.Is(err, sdk.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("Get on a session of the previous server: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The access log shows this process as the caller of every call.
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var ev struct {
			UID, PID int
			Op       string
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if ev.UID != os.Getuid() || ev.PID != os.Getpid() {
			t.Errorf("log line %q: want uid %d pid %d", sc.Text(), os.Getuid(), os.Getpid())
		}
		n++
	}
	if n < 15 {
		t.Errorf("%d log lines, want one per call at least:\n%s", n, raw)
	}
	for _, secret := range []string{alicePass, "gh-t0ken-value", "github-token"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("access log holds %q", secret)
		}
	}
}

// A program of another module, importing only this package, reads a
// credential through a running serve.
func TestProgramOutsideTheModule(t *testing.T) {
	h := newHost(t)
	sock := filepath.Join(t.TempDir(), "run", "serve.sock")
	h.serve(sock)

	// Copy examples/runtime-client, point its replace directive at this
	// checkout, and build it as the separate module it is.
	root := testenv.RepoRoot()
	src := filepath.Join(root, "examples", "runtime-client")
	dir := t.TempDir()
	for _, f := range []string{"main.go", "go.mod"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "go.mod" {
			b = bytes.Replace(b, []byte("=> ../.."), []byte("=> "+root), 1)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o600)
	bin := filepath.Join(dir, "runtime-client")
	build := exec.Command("go", "build", "-mod=mod", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the outside program: %v\n%s", err, out)
	}
	// It is another module: its build list names this one as a dependency.
	list := exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Main}}", "all")
	list.Dir = dir
	list.Env = build.Env
	out, err := list.Output()
	if err != nil || !strings.HasPrefix(string(out), "example.com/runtime-client true\n") || !strings.Contains(string(out), "github.com/ALRubinger/aileron-store false") {
		t.Fatalf("module graph of the outside program: %v\n%s", err, out)
	}

	run := func(name string) (string, int) {
		cmd := exec.Command(bin, "-socket", sock, "-vault", "team", "-identity", "alice", "-name", name)
		cmd.Env = append(os.Environ(), "AILERON_VAULT_PASSPHRASE="+alicePass)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String() + stderr.String(), code
	}
	if out, code := run("github-token"); code != 0 || out != "gh-t0ken-value" {
		t.Fatalf("outside program: exit %d, %q", code, out)
	}
	if out, code := run("absent"); code != 3 || !strings.Contains(out, `no credential "absent"`) {
		t.Fatalf("outside program, missing credential: exit %d, %q", code, out)
	}
}

// A socket file nobody listens on (a stopped server's) fails at once, even
// without a deadline.
func TestDialStaleSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	done := make(chan error, 1)
	go func() {
		_, err := hostclient.Dial(context.Background(), sock, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("stale socket: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Dial of a stale socket hangs")
	}
	if _, err := hostclient.Dial(context.Background(), dir, nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("a directory: %v", err)
	}
}
