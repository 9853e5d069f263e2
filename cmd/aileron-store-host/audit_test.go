package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hostapi "github.com/ALRubinger/aileron-store/api/hostapi/v1"
)

// serve --audit-log: every call of a scripted session is one line (Put and
// Delete two), `audit hash` finds the credential, no secret is written, and
// a log that cannot be written refuses service.
func TestServeAuditLog(t *testing.T) {
	h := newHost(t)
	h.setup()
	h.ok([]byte("tok-1-secret"), aliceEnv, "cred", "put", "team", "github-token", "--as", "alice")
	h.fail(1, []string{`no audit key in .*state`}, nil, nil, "audit", "hash", "github-token")

	logPath := filepath.Join(t.TempDir(), "access.log")
	sv := h.startServe("--audit-log", logPath)
	c, ctx := sv.client, sv.ctx
	if _, err := c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("not " + alicePass)}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong passphrase: %v", err)
	}
	u, err := c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte(alicePass)})
	if err != nil {
		t.Fatal(err)
	}
	s := u.Session
	if g, err := c.Get(ctx, &hostapi.GetRequest{Session: s, Name: "github-token"}); err != nil || string(g.Value) != "tok-1-secret" {
		t.Fatalf("get: %v", err)
	}
	if _, err := c.Put(ctx, &hostapi.PutRequest{Session: s, Name: "runtime-key", Value: []byte("rk-secret")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(ctx, &hostapi.ListRequest{Session: s}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, &hostapi.DeleteRequest{Session: s, Name: "runtime-key"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock(ctx, &hostapi.LockRequest{Session: s}); err != nil {
		t.Fatal(err)
	}
	sv.stop()

	ghHash := strings.TrimSpace(h.ok(nil, nil, "audit", "hash", "github-token").stdout)
	rkHash := strings.TrimSpace(h.ok(nil, nil, "audit", "hash", "runtime-key").stdout)
	if !strings.HasPrefix(ghHash, "hmac-sha256:") || len(ghHash) != len("hmac-sha256:")+64 || ghHash == rkHash {
		t.Fatalf("audit hash: %q %q", ghHash, rkHash)
	}
	if fi, err := os.Stat(filepath.Join(h.home, "state", "audit.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit key: %v %v", fi, err)
	}
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ op, outcome, name string }{
		{"unlock", "error", ""}, {"unlock", "ok", ""}, {"get", "ok", ghHash},
		{"put", "started", rkHash}, {"put", "ok", rkHash}, {"list", "ok", ""},
		{"delete", "started", rkHash}, {"delete", "ok", rkHash}, {"lock", "ok", ""},
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	i := 0
	for ; sc.Scan(); i++ {
		var ev struct {
			Time, Identity, Vault, Op, Outcome, Name string
			UID, PID                                 int
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d %q: %v", i, sc.Text(), err)
		}
		if i >= len(want) || ev.Op != want[i].op || ev.Outcome != want[i].outcome || ev.Name != want[i].name ||
			ev.Identity != "alice" || ev.Vault != "team" || ev.UID != os.Getuid() || ev.PID != os.Getpid() || ev.Time == "" {
			t.Fatalf("line %d: %s", i, sc.Text())
		}
	}
	if i != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", i, len(want), raw)
	}
	for _, secret := range []string{alicePass, "tok-1-secret", "rk-secret", "github-token", "runtime-key", s} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("the access log holds %q", secret)
		}
	}

	// A device that fails every write: the call is refused.
	sv = h.startServe("--audit-log", "/dev/full")
	_, err = sv.client.Unlock(sv.ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte(alicePass)})
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "access log") {
		t.Fatalf("unlock with an unwritable log: %v", err)
	}
	sv.stop()

	// A log other users can read is refused before serving.
	open := filepath.Join(t.TempDir(), "open.log")
	os.WriteFile(open, nil, 0o644)
	os.Chmod(open, 0o644)
	h.fail(1, []string{`access log .* is accessible by other users`}, nil, nil, "serve", "--socket", filepath.Join(t.TempDir(), "s", "x.sock"), "--audit-log", open)
}
