package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fingerprint returns the fingerprint `identity show` prints for name.
func (h *host) fingerprint(name string) string {
	h.t.Helper()
	m := regexp.MustCompile(`(?m)^fingerprint:\s+(\S+)`).FindStringSubmatch(h.ok(nil, nil, "identity", "show", name).stdout)
	if m == nil {
		h.t.Fatalf("no fingerprint for %s", name)
	}
	return m[1]
}

type historyOut struct {
	Vault    string
	Verified bool
	Heads    []struct {
		Seq               uint64
		Epoch             uint64
		FormatVersion     int        `json:"format_version"`
		Time              *time.Time `json:"time"`
		Signer            string
		SignerFingerprint string `json:"signer_fingerprint"`
		Changes           []struct{ Kind, Member, Role string }
		Hash              string
	}
}

// checkHistory asserts that `vault history team --as ops` shows, in order,
// the vault created by ops, bob granted (member), bob revoked and a
// rotation, every head signed by ops, consecutive and verified. A member
// whose name the reader cannot decrypt any more may show as its
// fingerprint. Format-1 heads carry no time; later formats must.
func checkHistory(h *host, start time.Time, cfgArgs ...string) {
	h.t.Helper()
	ops, bob := h.fingerprint("ops"), h.fingerprint("bob")
	r := h.ok(nil, nil, append(cfgArgs, "vault", "history", "team", "--as", "ops", "--json")...)
	var out historyOut
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		h.t.Fatalf("history --json: %v\n%s", err, r.stdout)
	}
	if out.Vault != "team" || !out.Verified || len(out.Heads) < 4 {
		h.t.Fatalf("history: %+v", out)
	}
	want := []struct{ kind, member, role string }{
		{"created", "", ""}, {"granted", "bob", "member"}, {"revoked", "bob", ""}, {"rotated", "", ""},
	}
	next := 0
	var last time.Time
	for i, hd := range out.Heads {
		if hd.Seq != uint64(i) || len(hd.Hash) != 64 {
			h.t.Fatalf("head %d: seq %d hash %q", i, hd.Seq, hd.Hash)
		}
		if hd.Signer != "ops" || hd.SignerFingerprint != ops {
			h.t.Fatalf("head %d signed by %q (%s), want ops (%s)", i, hd.Signer, hd.SignerFingerprint, ops)
		}
		switch {
		case hd.FormatVersion == 1 && hd.Time == nil:
		case hd.FormatVersion == 1:
			h.t.Fatalf("head %d: format 1 carries no time, got %v", i, hd.Time)
		case hd.Time == nil || hd.Time.Before(start.Add(-time.Minute)) || hd.Time.After(time.Now().Add(time.Minute)) || hd.Time.Before(last):
			h.t.Fatalf("head %d (format %d): time %v outside the test's run or going backwards", i, hd.FormatVersion, hd.Time)
		default:
			last = *hd.Time
		}
		for _, c := range hd.Changes {
			if next < len(want) && c.Kind == want[next].kind {
				w := want[next]
				if w.member != "" && c.Member != w.member && c.Member != bob {
					h.t.Fatalf("head %d: %s %q, want %s or its fingerprint %s", i, c.Kind, c.Member, w.member, bob)
				}
				if c.Role != w.role {
					h.t.Fatalf("head %d: %s role %q, want %q", i, c.Kind, c.Role, w.role)
				}
				next++
			}
		}
	}
	if next != len(want) {
		h.t.Fatalf("history lacks %s (after %d of %d changes):\n%s", want[next].kind, next, len(want), r.stdout)
	}
	if out.Heads[0].Changes[0].Kind != "created" {
		h.t.Fatalf("first head: %+v", out.Heads[0])
	}
	table := h.ok(nil, nil, append(cfgArgs, "vault", "history", "team", "--as", "ops")...).stdout
	if !strings.Contains(table, "chain verified") || !regexp.MustCompile(`(?m)^0\s.*\bops \(`+ops+`\)\s+created$`).MatchString(table) {
		h.t.Fatalf("history table:\n%s", table)
	}
}

func TestVaultHistory(t *testing.T) {
	start := time.Now()
	h := newHost(t)
	h.setupFast()
	h.ok(nil, nil, "vault", "grant", "team", h.recipient("bob"), "--name", "bob", "--as", "ops")
	fillVault(h, 2)
	h.ok(nil, nil, "vault", "revoke", "team", "bob", "--as", "ops")
	h.ok(nil, nil, "vault", "rotate", "team", "--as", "ops")
	checkHistory(h, start)
	h.fail(1, []string{`not a member`}, nil, nil, "vault", "history", "team", "--as", "bob")
	h.fail(2, []string{`--as NAME is required`}, nil, nil, "vault", "history", "team")

	// A head in the middle of the chain with one flipped bit (its
	// signature): refused, naming the head, with nothing printed.
	logs, _ := filepath.Glob(filepath.Join(h.home, "data", "v+", "*", "h+", "0000000000000001"))
	if len(logs) != 1 {
		t.Fatalf("head log files: %v", logs)
	}
	orig, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), orig...)
	bad[len(bad)-1] ^= 1
	os.WriteFile(logs[0], bad, 0o600)
	r := h.fail(1, []string{`(?m)^error: .*tampered data.*h/0000000000000001.*bad signature`}, nil, nil, "vault", "history", "team", "--as", "ops")
	if r.stdout != "" {
		t.Fatalf("a partial history was printed:\n%s", r.stdout)
	}
	h.fail(1, []string{`tampered data`}, nil, nil, "vault", "history", "team", "--as", "ops", "--json")
	// A head missing from the log: the chain cannot be verified.
	os.Remove(logs[0])
	h.fail(1, []string{`rolled-back data.*h/0000000000000001.*missing`}, nil, nil, "vault", "history", "team", "--as", "ops")
	os.WriteFile(logs[0], orig, 0o600)
	checkHistory(h, start)
}
