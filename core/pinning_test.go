package core

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk"
)

// TestVaultNamePinning is property 5 of issue 13: a host that has opened a
// vault by name never silently opens a different vault under that name. The
// attacker has write access to the backend and knows bob's public recipient:
// it creates a vault of the same name, grants bob, and deletes or corrupts
// bob's genuine index entry.
func TestVaultNamePinning(t *testing.T) { overStores(t, scenarioNamePinning) }

// impostorFixture: alice's vault "team-N" with bob a member whose host
// (bobDir) has opened it, and mallory's vault of the same name granting bob.
type impostorFixture struct {
	st              sdk.Store
	name            string
	genuine, fake   *Vault
	alice, bob, mal *Identity
	bobDir          string
	genuineIdx      string
	fakeIdx         string
}

func newImpostorFixture(t *testing.T, st sdk.Store) *impostorFixture {
	ctx := context.Background()
	f := &impostorFixture{st: st, name: fmt.Sprintf("team-%d", fixtureSeq.Add(1)),
		alice: testIdentity(t, "alice"), bob: testIdentity(t, "bob"), mal: testIdentity(t, "mallory"), bobDir: stateDir(t)}
	var err error
	f.genuine, err = newEngine(t, st, nil).CreateVault(ctx, f.name, f.alice, "alice")
	must(t, err)
	must(t, f.genuine.Grant(ctx, f.bob.Recipient(), "bob", RoleMember))
	must(t, f.genuine.Put(ctx, "github-token", []byte("genuine")))
	vb, err := f.bobEngine(t).Unlock(ctx, f.name, f.bob)
	must(t, err)
	vb.Lock()
	// The attacker's own engine and vault, on the same backend.
	f.fake, err = newEngine(t, st, nil).CreateVault(ctx, f.name, f.mal, "mallory")
	must(t, err)
	must(t, f.fake.Grant(ctx, f.bob.Recipient(), "bob", RoleMember))
	f.genuineIdx = indexKey(f.bob.rcpt.ID(), f.genuine.id)
	f.fakeIdx = indexKey(f.bob.rcpt.ID(), f.fake.id)
	return f
}

// bobEngine is a new engine (a new process) on bob's host.
func (f *impostorFixture) bobEngine(t *testing.T) *Engine {
	return newEngine(t, f.st, &Options{StateDir: f.bobDir})
}

func scenarioNamePinning(t *testing.T, st sdk.Store) {
	ctx := context.Background()

	t.Run("pinned host opens the pinned vault while both are listed", func(t *testing.T) {
		f := newImpostorFixture(t, st)
		v, err := f.bobEngine(t).Unlock(ctx, f.name, f.bob)
		must(t, err)
		defer v.Lock()
		if v.ID() != f.genuine.ID() {
			t.Fatalf("opened vault %s, want the pinned %s", v.ID(), f.genuine.ID())
		}
		must(t, v.Put(ctx, "new-cred", []byte("for alice")))
		got, err := f.genuine.Get(ctx, "new-cred")
		must(t, err)
		if string(got) != "for alice" {
			t.Fatalf("genuine vault has %q", got)
		}
		if _, err := f.fake.Get(ctx, "new-cred"); err == nil {
			t.Fatal("the credential landed in the attacker's vault")
		}
	})
	t.Run("genuine index entry deleted", func(t *testing.T) {
		f := newImpostorFixture(t, st)
		tamperDelete(t, st, f.genuineIdx)
		_, err := f.bobEngine(t).Unlock(ctx, f.name, f.bob)
		wantErr(t, err, ErrPinnedVault, f.name, f.genuine.ID(), f.genuineIdx, "missing", "NOT opened: "+f.fake.ID())
		// Every later unlock, and a put through it, stays refused: nothing
		// is written into the attacker's vault.
		_, err = f.bobEngine(t).Unlock(ctx, f.name, f.bob)
		wantErr(t, err, ErrPinnedVault)
		if n := len(keysWith(t, st, recordPrefix(f.fake.id), "")); n != 0 {
			t.Fatalf("attacker's vault holds %d records", n)
		}
	})
	t.Run("genuine index entry corrupted", func(t *testing.T) {
		f := newImpostorFixture(t, st)
		tamper(t, st, f.genuineIdx, flip(get(t, st, f.genuineIdx), 60))
		_, err := f.bobEngine(t).Unlock(ctx, f.name, f.bob)
		wantErr(t, err, ErrPinnedVault, f.name, f.genuine.ID(), "does not open")
		wantErr(t, err, ErrTampered, f.genuineIdx)
	})
	t.Run("genuine index entry replaced by one for another vault", func(t *testing.T) {
		f := newImpostorFixture(t, st)
		tamper(t, st, f.genuineIdx, get(t, st, f.fakeIdx))
		_, err := f.bobEngine(t).Unlock(ctx, f.name, f.bob)
		wantErr(t, err, ErrPinnedVault, f.genuine.ID())
		wantErr(t, err, ErrTampered, "index entry")
	})
	t.Run("unpinned host refuses two vaults of one name", func(t *testing.T) {
		f := newImpostorFixture(t, st)
		_, err := newEngine(t, st, nil).Unlock(ctx, f.name, f.bob)
		wantErr(t, err, ErrAmbiguousVault, f.name, f.genuine.ID(), f.fake.ID(), "grant token")
		// The grant token picks one, and pins it.
		tok, err := f.genuine.Token()
		must(t, err)
		e := newEngine(t, st, nil)
		v, err := e.Unlock(ctx, f.name, f.bob, UnlockOptions{Token: tok})
		must(t, err)
		v.Lock()
		if v.ID() != f.genuine.ID() {
			t.Fatalf("token opened %s, want %s", v.ID(), f.genuine.ID())
		}
		v, err = e.Unlock(ctx, f.name, f.bob)
		must(t, err)
		v.Lock()
		if v.ID() != f.genuine.ID() {
			t.Fatalf("after the token, the name opens %s, want %s", v.ID(), f.genuine.ID())
		}
	})
	t.Run("revoked member gets not-a-member, not a switch", func(t *testing.T) {
		f := newImpostorFixture(t, st)
		_, err := f.genuine.Revoke(ctx, "bob")
		must(t, err)
		tamperDelete(t, st, f.genuineIdx)
		_, err = f.bobEngine(t).Unlock(ctx, f.name, f.bob)
		wantErr(t, err, ErrNotMember, f.name)
	})
	t.Run("creator's host pins the name", func(t *testing.T) {
		f := newImpostorFixture(t, st)
		aliceDir := stateDir(t)
		ea := newEngine(t, st, &Options{StateDir: aliceDir})
		name := f.name + "-a"
		v, err := ea.CreateVault(ctx, name, f.alice, "alice")
		must(t, err)
		v.Lock()
		// mallory plants a vault of that name for alice, and removes the
		// genuine entry: neither Unlock nor CreateVault moves the pin.
		fake, err := newEngine(t, st, nil).CreateVault(ctx, name, f.mal, "mallory")
		must(t, err)
		must(t, fake.Grant(ctx, f.alice.Recipient(), "alice", RoleAdmin))
		tamperDelete(t, st, indexKey(f.alice.rcpt.ID(), v.id))
		_, err = newEngine(t, st, &Options{StateDir: aliceDir}).Unlock(ctx, name, f.alice)
		wantErr(t, err, ErrPinnedVault, v.ID(), fake.ID())
		_, err = newEngine(t, st, &Options{StateDir: aliceDir}).CreateVault(ctx, name, f.alice, "alice")
		wantErr(t, err, ErrVaultExists, v.ID())
	})
}

// TestNamePinSharedStateDir: two engines (processes) on one state dir agree
// on the pin, and a second first-use choice that differs is refused.
func TestNamePinSharedStateDir(t *testing.T) {
	dir := t.TempDir()
	p1, p2 := newPinStore(dir), newPinStore(dir)
	member, a, b := randomID(), randomID(), randomID()
	must(t, p1.pinName(member, "team", a))
	got, ok, err := p2.vaultOf(member, "team")
	must(t, err)
	if !ok || got != a {
		t.Fatalf("second process sees %x %v, want %x", got, ok, a)
	}
	must(t, p2.pinName(member, "team", a)) // same choice: fine
	wantErr(t, p2.pinName(member, "team", b), ErrPinnedVault, "team")
	// Other names and other members are independent.
	must(t, p2.pinName(member, "other", b))
	must(t, p2.pinName(randomID(), "team", b))
	// An explicit re-pin (a grant token) replaces it for both.
	must(t, p2.repinName(member, "team", b))
	if got, _, _ := p1.vaultOf(member, "team"); got != b {
		t.Fatalf("re-pin not seen by the other process: %x", got)
	}
	// A damaged pin file is an error naming it, never a silent unpinning.
	path := p1.namePath(nameKey{member, "team"})
	must(t, os.WriteFile(path, []byte("ALNM\x01garbage"), 0o600))
	_, _, err = p1.vaultOf(member, "team")
	wantErr(t, err, ErrTampered, "name pin", path)
	// A pin file moved to another name's place is refused too.
	must(t, os.WriteFile(path, marshalNamePin(member, b, "other"), 0o600))
	_, _, err = p1.vaultOf(member, "team")
	wantErr(t, err, ErrTampered, "another member or name")
	fi, err := os.Stat(filepath.Dir(path))
	must(t, err)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("name pin directory mode %o, want 700", fi.Mode().Perm())
	}
}

// FuzzParseNamePin: the name pin decoder never panics, and what it accepts
// round-trips.
func FuzzParseNamePin(f *testing.F) {
	f.Add(marshalNamePin(randomID(), randomID(), "team"))
	f.Add(marshalNamePin(randomID(), randomID(), strings.Repeat("x", 1024)))
	f.Add([]byte("ALNM\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, v, name, err := parseNamePin(b)
		if err != nil {
			return
		}
		if string(marshalNamePin(m, v, name)) != string(b) {
			t.Fatal("name pin does not round-trip")
		}
	})
}
