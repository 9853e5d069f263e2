package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
)

// TestImplicitResumePrintsReport interrupts a revoke after its commit (the
// backend, internal/soak's evil plugin, exits when the sweep reads a
// credential record), then runs another admin command: it completes the
// revoke first and prints that sweep's report, the credentials the revoked
// member could read among it, instead of losing it.
func TestImplicitResumePrintsReport(t *testing.T) {
	h := newHost(t)
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testenv.Binary(t, "./internal/soak/evilplugin"), filepath.Join(plugins, "aileron-store-evil")); err != nil {
		t.Fatal(err)
	}
	control := filepath.Join(dir, "control")
	setMode := func(mode string) {
		t.Helper()
		if err := os.WriteFile(control, []byte(mode+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setMode("honest")
	c := []string{"--config", writeConfigFile(t, "evil", plugins, map[string]string{"path": filepath.Join(dir, "data"), "control": control})}

	h.setupFast(c...)
	h.ok(nil, nil, append(c, "vault", "grant", "team", h.recipient("bob"), "--name", "bob", "--as", "ops")...)
	fillVault(h, 3, c...)

	setMode("crash record")
	r := h.run(nil, nil, append(c, "vault", "revoke", "team", "bob", "--as", "ops")...)
	if r.code == 0 {
		t.Fatalf("the revoke survived its backend's crash: %s", r)
	}
	setMode("honest")

	h.ok(nil, nil, "identity", "new", "carol", "--no-passphrase")
	r = h.ok(nil, nil, append(c, "vault", "grant", "team", h.recipient("carol"), "--name", "carol", "--as", "ops")...)
	want := `(?s)vault "team" has an interrupted rotation; completing it first\n` +
		`.*completed the interrupted rotation of vault "team"; re-encrypted 3 credential\(s\)\n` +
		`if it was a revoke, the revoked member could read these credentials; rotate them at their source:\n` +
		`  cred-00\n  cred-01\n  cred-02\n`
	if !regexp.MustCompile(want).MatchString(r.stderr) {
		t.Fatalf("the grant that completed the revoke did not print its report:\n%s", r)
	}
	if !strings.Contains(r.stdout, `granted "carol"`) || strings.Contains(r.stdout, "cred-0") {
		t.Fatalf("grant's stdout (its token) should hold the grant alone:\n%s", r.stdout)
	}
	// The revoke is complete: bob is gone, nothing is pending.
	h.fail(1, []string{`not a member`}, nil, nil, append(c, "cred", "get", "team", "cred-00", "--as", "bob")...)
	r = h.ok(nil, nil, append(c, "vault", "rotate", "team", "--resume", "--as", "ops")...)
	if strings.Contains(r.stderr, "interrupted rotation") {
		t.Fatalf("a rotation is still pending:\n%s", r)
	}
}
