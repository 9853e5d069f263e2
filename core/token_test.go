package core

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

// TestGrantToken is the pinning part of property 6 of issue 13: a newly
// granted member whose host opens the vault with the grant token refuses an
// old state or a fork of the vault; without the token its host trusts on
// first use (documented in docs/operator.md) and accepts them.
func TestGrantToken(t *testing.T) { overStores(t, scenarioGrantToken) }

// snapshot is every key and value of a store.
type snapshot map[string][]byte

// rollBack makes st hold exactly snap, as a backend (or an attacker with
// write access and an old copy) serving an old state would.
func rollBack(t *testing.T, st sdk.Store, snap snapshot) {
	t.Helper()
	for k := range dump(t, st) {
		if _, ok := snap[k]; !ok {
			must(t, st.Delete(context.Background(), k, sdk.None))
		}
	}
	for k, v := range snap {
		put(t, st, k, v)
	}
}

func scenarioGrantToken(t *testing.T, st sdk.Store) {
	ctx := context.Background()
	alice, bob, carol := testIdentity(t, "alice"), testIdentity(t, "bob"), testIdentity(t, "carol")
	vaultName := func() string { return fmt.Sprintf("tok-%d", fixtureSeq.Add(1)) }

	t.Run("token opens and pins the granted vault", func(t *testing.T) {
		name := vaultName()
		v, err := newEngine(t, st, nil).CreateVault(ctx, name, alice, "alice")
		must(t, err)
		must(t, v.Put(ctx, "k", []byte("v")))
		must(t, v.Grant(ctx, bob.Recipient(), "bob", RoleMember))
		tok, err := v.Token()
		must(t, err)
		if tok.VaultID() != v.ID() {
			t.Fatalf("token names vault %s, want %s", tok.VaultID(), v.ID())
		}
		s, _ := v.current()
		if tok.Seq() != s.head.h.Seq {
			t.Fatalf("token seq %d, want the grant head's %d", tok.Seq(), s.head.h.Seq)
		}
		dir := stateDir(t)
		vb, err := newEngine(t, st, &Options{StateDir: dir}).Unlock(ctx, name, bob, UnlockOptions{Token: tok})
		must(t, err)
		got, err := vb.Get(ctx, "k")
		must(t, err)
		if string(got) != "v" {
			t.Fatalf("got %q", got)
		}
		vb.Lock()
		// The vault moves on; bob's host follows it by name.
		must(t, v.Rotate(ctx))
		vb, err = newEngine(t, st, &Options{StateDir: dir}).Unlock(ctx, name, bob)
		must(t, err)
		vb.Lock()
		// A token of another name is refused, naming both.
		_, err = newEngine(t, st, nil).Unlock(ctx, name+"-x", bob, UnlockOptions{Token: tok})
		wantErr(t, err, ErrPinnedVault, name)
		// Once the host is past the token's head, the token still fits.
		vb, err = newEngine(t, st, &Options{StateDir: dir}).Unlock(ctx, name, bob, UnlockOptions{Token: tok})
		must(t, err)
		vb.Lock()
	})

	t.Run("old state refused with the token, accepted on first use without", func(t *testing.T) {
		name := vaultName()
		v, err := newEngine(t, st, nil).CreateVault(ctx, name, alice, "alice")
		must(t, err)
		must(t, v.Grant(ctx, bob.Recipient(), "bob", RoleMember))
		must(t, v.Put(ctx, "k", []byte("old")))
		old := snapshot(dump(t, st))
		must(t, v.Rotate(ctx))
		must(t, v.Put(ctx, "k", []byte("new")))
		tok, err := v.Token()
		must(t, err)
		now := snapshot(dump(t, st))
		t.Cleanup(func() { rollBack(t, st, now) })
		rollBack(t, st, old)

		_, err = newEngine(t, st, nil).Unlock(ctx, name, bob, UnlockOptions{Token: tok})
		wantErr(t, err, ErrRollback, "vault head", "grant token")
		// Without the token: trust on first use opens the old state.
		vb, err := newEngine(t, st, nil).Unlock(ctx, name, bob)
		must(t, err)
		got, err := vb.Get(ctx, "k")
		must(t, err)
		if string(got) != "old" {
			t.Fatalf("TOFU host read %q, want the old state's value", got)
		}
		// With the log entries of the newer heads still in place, the token
		// head is found, pinned, and the old current head is a rollback.
		for k, val := range now {
			if strings.Contains(k, "/h/") {
				put(t, st, k, val)
			}
		}
		_, err = newEngine(t, st, nil).Unlock(ctx, name, bob, UnlockOptions{Token: tok})
		wantErr(t, err, ErrRollback, "vault head")
	})

	t.Run("fork by a revoked admin refused with the token, accepted on first use without", func(t *testing.T) {
		name := vaultName()
		v, err := newEngine(t, st, nil).CreateVault(ctx, name, alice, "alice")
		must(t, err)
		must(t, v.Grant(ctx, carol.Recipient(), "carol", RoleAdmin))
		// carol's host opens the vault while she is an admin; she keeps a
		// copy of the backend as it was.
		vc, err := newEngine(t, st, nil).Unlock(ctx, name, carol)
		must(t, err)
		before := snapshot(dump(t, st))
		_, err = v.Revoke(ctx, "carol")
		must(t, err)
		must(t, v.Grant(ctx, bob.Recipient(), "bob", RoleMember))
		tok, err := v.Token()
		must(t, err)
		now := snapshot(dump(t, st))
		t.Cleanup(func() { rollBack(t, st, now) })

		// The fork: the backend as before the revoke, on which carol, still
		// an admin there, grants bob and stores her own value.
		rollBack(t, st, before)
		must(t, vc.Grant(ctx, bob.Recipient(), "bob", RoleMember))
		must(t, vc.Put(ctx, "webhook-url", []byte("https://carol.example")))

		_, err = newEngine(t, st, nil).Unlock(ctx, name, bob, UnlockOptions{Token: tok})
		wantErr(t, err, ErrRollback, "vault head", "grant token")
		// Without the token: first use trusts the fork.
		vb, err := newEngine(t, st, nil).Unlock(ctx, name, bob)
		must(t, err)
		got, err := vb.Get(ctx, "webhook-url")
		must(t, err)
		if string(got) != "https://carol.example" {
			t.Fatalf("TOFU host read %q", got)
		}
		// Even with the genuine head log kept beside the fork.
		for k, val := range now {
			if strings.Contains(k, "/h/") {
				put(t, st, k, val)
			}
		}
		_, err = newEngine(t, st, nil).Unlock(ctx, name, bob, UnlockOptions{Token: tok})
		wantErr(t, err, ErrRollback, "vault head")
	})

	t.Run("host pinned on another branch refuses the token", func(t *testing.T) {
		name := vaultName()
		v, err := newEngine(t, st, nil).CreateVault(ctx, name, alice, "alice")
		must(t, err)
		must(t, v.Grant(ctx, carol.Recipient(), "carol", RoleAdmin))
		vc, err := newEngine(t, st, nil).Unlock(ctx, name, carol)
		must(t, err)
		before := snapshot(dump(t, st))
		must(t, v.Grant(ctx, bob.Recipient(), "bob", RoleMember))
		tok, err := v.Token()
		must(t, err)
		now := snapshot(dump(t, st))
		t.Cleanup(func() { rollBack(t, st, now) })
		// bob's host first met carol's fork (same seq as the token's head).
		rollBack(t, st, before)
		must(t, vc.Grant(ctx, bob.Recipient(), "bob", RoleMember))
		dir := stateDir(t)
		vb, err := newEngine(t, st, &Options{StateDir: dir}).Unlock(ctx, name, bob)
		must(t, err)
		vb.Lock()
		rollBack(t, st, now)
		_, err = newEngine(t, st, &Options{StateDir: dir}).Unlock(ctx, name, bob, UnlockOptions{Token: tok})
		wantErr(t, err, ErrRollback, "fork")
	})
}

func TestTokenString(t *testing.T) {
	tok := &Token{vault: randomID(), seq: 42}
	copy(tok.hash[:], strings.Repeat("h", 32))
	s := tok.String()
	if !strings.HasPrefix(s, TokenPrefix) {
		t.Fatalf("token %q lacks the prefix", s)
	}
	got, err := ParseToken("  " + s + "\n")
	must(t, err)
	if *got != *tok {
		t.Fatalf("round trip: %+v, want %+v", got, tok)
	}
	body := s[len(TokenPrefix):]
	swap := func(c byte) byte {
		if c == 'a' {
			return 'b'
		}
		return 'a'
	}
	cases := map[string]struct{ in, want string }{
		"prefix":    {"aileron1" + body, "does not start"},
		"empty":     {"", "does not start"},
		"base32":    {TokenPrefix + body[:10] + "!" + body[11:], "base32"},
		"truncated": {s[:len(s)-8], "holds"},
		"typo":      {s[:30] + string(swap(s[30])) + s[31:], "checksum"},
		"long":      {s + strings.Repeat("a", 300), "too long"},
	}
	for name, c := range cases {
		if _, err := ParseToken(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err=%v, want one mentioning %q", name, err, c.want)
		}
	}
	// A locked vault has no token.
	ctx := context.Background()
	v, err := newEngine(t, memstore.New(), nil).CreateVault(ctx, "t", testIdentity(t, "alice"), "alice")
	must(t, err)
	v.Lock()
	if _, err := v.Token(); err == nil {
		t.Fatal("locked vault returned a token")
	}
}

// FuzzParseToken: the token parser never panics and what it accepts
// round-trips.
func FuzzParseToken(f *testing.F) {
	tok := &Token{vault: randomID(), seq: 7}
	f.Add(tok.String())
	f.Add(TokenPrefix)
	f.Add(TokenPrefix + "aaaa")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseToken(s)
		if err != nil {
			return
		}
		again, err := ParseToken(got.String())
		if err != nil || *again != *got {
			t.Fatalf("token does not round-trip: %v", err)
		}
	})
}
