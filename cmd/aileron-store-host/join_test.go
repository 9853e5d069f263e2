package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var tokenRE = regexp.MustCompile(`aileron-vault1[a-z2-7]+`)

// TestGrantTokenJoin: the grant prints a token and the one line telling the
// new member what to do with it; the member's host joins with it, and from
// then on opens only that vault under its name: a vault of the same name
// planted by someone with write access to the backend, with the genuine
// index entry deleted, is refused with an error naming both.
func TestGrantTokenJoin(t *testing.T) {
	h := newHost(t)
	h.setup()
	h.ok([]byte("genuine"), aliceEnv, "cred", "put", "team", "k", "--as", "alice")
	out := h.ok(nil, aliceEnv, "vault", "grant", "team", h.recipient("bob"), "--name", "bob", "--as", "alice").stdout
	tok := tokenRE.FindString(out)
	if tok == "" || !strings.Contains(out, "grant token: "+tok+"\n") || !strings.Contains(out, `"bob" runs once on their host`) || !strings.Contains(out, "vault join team "+tok+" --as") {
		t.Fatalf("grant output lacks the token and its instruction:\n%s", out)
	}
	h.fail(2, []string{`grant token checksum mismatch`}, nil, nil, "vault", "join", "team", tok[:40]+"a"+tok[41:], "--as", "bob")
	r := h.ok(nil, nil, "vault", "join", "team", tok, "--as", "bob")
	if !strings.Contains(r.stdout, `joined vault "team"`) {
		t.Fatalf("join: %s", r)
	}
	st := h.ok(nil, nil, "vault", "status", "team", "--as", "bob").stdout
	id := regexp.MustCompile(`\(id ([0-9a-f]{32})\)`).FindStringSubmatch(st)
	if id == nil || !strings.Contains(st, "head age: ") || !strings.Contains(st, "token:    aileron-vault1") {
		t.Fatalf("status:\n%s", st)
	}
	if got := h.ok(nil, nil, "cred", "get", "team", "k", "--as", "bob").stdout; got != "genuine" {
		t.Fatalf("bob read %q", got)
	}

	// mallory, with write access to the same backend, plants a vault "team"
	// for bob and deletes bob's genuine index entry.
	h.ok(nil, nil, "identity", "new", "mallory", "--no-passphrase")
	h.ok(nil, nil, "vault", "create", "team", "--as", "mallory")
	h.ok([]byte("https://mallory.example"), nil, "cred", "put", "team", "k", "--as", "mallory")
	h.ok(nil, nil, "vault", "grant", "team", h.recipient("bob"), "--name", "bob", "--as", "mallory")
	fake := regexp.MustCompile(`\(id ([0-9a-f]{32})\)`).FindStringSubmatch(h.ok(nil, nil, "vault", "status", "team", "--as", "mallory").stdout)
	if fake == nil || fake[1] == id[1] {
		t.Fatalf("mallory's vault id %v", fake)
	}
	// bob's index entries are the directory holding an entry of each vault.
	dirs := map[string]int{}
	for _, v := range []string{id[1], fake[1]} {
		for _, f := range dataFiles(t, filepath.Join(h.home, "data"), v) {
			if strings.Contains(f, "/m+/") {
				dirs[filepath.Dir(f)]++
			}
		}
	}
	removed := false
	for d, n := range dirs {
		if n != 2 {
			continue
		}
		for _, f := range dataFiles(t, d, id[1]) {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			removed = true
		}
	}
	if !removed {
		t.Fatalf("bob's genuine index entry not found among %v", dirs)
	}
	for _, args := range [][]string{
		{"cred", "get", "team", "k", "--as", "bob"},
		{"cred", "put", "team", "new", "--as", "bob"},
	} {
		r := h.fail(1, []string{`^error: pinned vault unavailable: `, id[1], `missing`, `NOT opened: ` + fake[1], `vault join team TOKEN --as bob`}, []byte("x"), nil, args...)
		if strings.Contains(r.stdout, "mallory") {
			t.Fatalf("%v printed the planted value: %s", args, r)
		}
	}
	// alice's host still opens the genuine vault.
	if got := h.ok(nil, aliceEnv, "cred", "get", "team", "k", "--as", "alice").stdout; got != "genuine" {
		t.Fatalf("alice read %q", got)
	}
}
