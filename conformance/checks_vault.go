package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/sdk"
)

// vaultWorld holds the names and secrets of one vault scenario. They are
// fresh random strings per run, so that no test fixture can match by chance.
type vaultWorld struct {
	vault                      string
	alice, bob, carol          string
	creds                      map[string][]byte // credential name -> value
	memberCred, memberCredVal  string
	overwritten, overwriteWith string
}

func newVaultWorld() *vaultWorld {
	tag := func(what string) string {
		b := make([]byte, 6)
		rand.Read(b)
		return what + " " + hex.EncodeToString(b)
	}
	w := &vaultWorld{
		vault: tag("Payroll Vault"),
		alice: tag("Alice Admin"), bob: tag("Bob Member"), carol: tag("Carol Admin"),
		creds: map[string][]byte{},
	}
	for _, n := range []string{"GitHub Token", "Database Password", "Signing Key"} {
		w.creds[tag(n)] = []byte(tag("secret value of " + n))
	}
	w.memberCred, w.memberCredVal = tag("Bob's API Key"), tag("secret value written by Bob")
	for n := range w.creds {
		w.overwritten = n
		break
	}
	w.overwriteWith = tag("rotated secret value")
	return w
}

// watched returns every name and secret of the world, labelled.
func (w *vaultWorld) watched() map[string][]byte {
	m := map[string][]byte{
		"the vault name":       []byte(w.vault),
		"member name alice":    []byte(w.alice),
		"member name bob":      []byte(w.bob),
		"member name carol":    []byte(w.carol),
		"a credential name":    []byte(w.memberCred),
		"a credential value":   []byte(w.memberCredVal),
		"an overwritten value": []byte(w.overwriteWith),
	}
	i := 0
	for n, v := range w.creds {
		i++
		m[fmt.Sprintf("credential name %d", i)] = []byte(n)
		m[fmt.Sprintf("credential value %d", i)] = v
	}
	return m
}

// noClose keeps the engine scenario from closing the check's store; it
// passes on the store's capabilities and native batches, so that the engine
// sees an atomic guard where the store has one.
type noClose struct{ sdk.Store }

func (noClose) Close() error { return nil }

func (n noClose) Capabilities() sdk.Capabilities {
	if cr, ok := n.Store.(sdk.CapabilityReporter); ok {
		return cr.Capabilities()
	}
	return sdk.Capabilities{}
}

func (n noClose) WriteBatch(ctx context.Context, guard *sdk.Guard, writes []sdk.Write) ([]sdk.WriteResult, error) {
	return sdk.WriteBatch(ctx, n.Store, guard, writes)
}

// scenarioWriteTimeout bounds each credential write of the vault scenario on
// a store without an atomic guard, so that its rotations wait 1.5 x this
// (not core.WriteTimeout's 15 s) before their final pass: the scenario checks
// that the engine works over the store, not the stale-writer window, and a
// single write of a conformance run takes milliseconds.
const scenarioWriteTimeout = 2 * time.Second

// vaultScenario runs create, put, get, list, grant, member read and write,
// rotate, revoke, delete and overwrite through the core engine, over the
// store under test (engine A) and, when the harness can attach one, a second
// client of it (engine B, as a second host would). It returns the spies.
func vaultScenario(e *env, w *vaultWorld) []*Spy {
	ctx := e.ctx
	must := func(err error, what string) {
		if err != nil {
			e.fatalf("vault scenario: %s: %v", what, err)
		}
	}
	clients := e.clients(2)
	spyA, spyB := NewSpy(noClose{clients[0]}), NewSpy(noClose{clients[1]})
	opts := &core.Options{WriteTimeout: scenarioWriteTimeout}
	engA, err := core.New(spyA, opts)
	must(err, "core.New for host A")
	engB, err := core.New(spyB, opts)
	must(err, "core.New for host B")

	alice, err := core.NewIdentity(core.SuiteMLKEM768X25519)
	must(err, "new identity")
	defer alice.Wipe()
	bob, err := core.NewIdentity(core.SuiteX25519)
	must(err, "new identity")
	defer bob.Wipe()
	carol, err := core.NewIdentity(core.SuiteX25519)
	must(err, "new identity")
	defer carol.Wipe()

	va, err := engA.CreateVault(ctx, w.vault, alice, w.alice)
	must(err, "create vault")
	defer va.Lock()
	var names []string
	for n, v := range w.creds {
		must(va.Put(ctx, n, v), "admin put")
		names = append(names, n)
	}
	slices.Sort(names)
	wantCreds := func(v *core.Vault, who string) {
		for n, want := range w.creds {
			got, err := v.Get(ctx, n)
			must(err, who+" get")
			if !bytes.Equal(got, want) {
				e.fatalf("vault scenario: %s reads a credential back with the wrong value (%d bytes, want %d)", who, len(got), len(want))
			}
			clear(got)
		}
	}
	wantCreds(va, "admin")
	got, err := va.List(ctx)
	must(err, "list")
	if !slices.Equal(got, names) {
		e.fatalf("vault scenario: the vault lists %d credentials, want %d", len(got), len(names))
	}

	must(va.Grant(ctx, bob.Recipient(), w.bob, core.RoleMember, &core.GrantOptions{AllowClassical: true}), "grant member")
	must(va.Grant(ctx, carol.Recipient(), w.carol, core.RoleAdmin, &core.GrantOptions{AllowClassical: true}), "grant admin")
	vb, err := engB.Unlock(ctx, w.vault, bob)
	must(err, "member unlock on host B")
	defer vb.Lock()
	wantCreds(vb, "member on host B")
	must(vb.Put(ctx, w.memberCred, []byte(w.memberCredVal)), "member put on host B")
	b, err := va.Get(ctx, w.memberCred)
	must(err, "admin reads the member's credential")
	if !bytes.Equal(b, []byte(w.memberCredVal)) {
		e.fatalf("vault scenario: the admin reads the member's credential with the wrong value")
	}
	w.creds[w.memberCred] = []byte(w.memberCredVal)

	_, err = va.Rotate(ctx)
	must(err, "rotate")
	wantCreds(vb, "member after rotate")

	rep, err := va.Revoke(ctx, w.bob)
	must(err, "revoke")
	if len(rep.Readable) != len(w.creds) {
		e.fatalf("vault scenario: revoke reports %d credentials readable by the revoked member, want %d", len(rep.Readable), len(w.creds))
	}
	// The credential the revoked member wrote last is quarantined (format 2:
	// it cannot be told apart from one it forged after the revoke began);
	// an admin vouches for it to bring it back.
	if len(rep.Quarantined) != 1 || rep.Quarantined[0].Name != w.memberCred {
		e.fatalf("vault scenario: revoke quarantined %d credentials, want the revoked member's one", len(rep.Quarantined))
	}
	must(va.RestoreQuarantined(ctx, w.memberCred), "restore the revoked member's credential")
	if _, err := vb.Get(ctx, names[0]); err == nil {
		e.fatalf("vault scenario: the revoked member still reads a credential")
	}
	if _, err := engB.Unlock(ctx, w.vault, bob); err == nil {
		e.fatalf("vault scenario: the revoked member can still unlock the vault")
	}

	vc, err := engB.Unlock(ctx, w.vault, carol)
	must(err, "second admin unlock on host B")
	defer vc.Lock()
	wantCreds(vc, "second admin on host B")

	must(va.Put(ctx, w.overwritten, []byte(w.overwriteWith)), "overwrite")
	w.creds[w.overwritten] = []byte(w.overwriteWith)
	wantCreds(vc, "second admin after an overwrite")
	must(vc.Delete(ctx, w.memberCred), "delete")
	delete(w.creds, w.memberCred)
	if _, err := va.Get(ctx, w.memberCred); !errors.Is(err, core.ErrCredentialNotFound) {
		e.fatalf("vault scenario: a deleted credential reads as %v, want core.ErrCredentialNotFound", err)
	}
	vaults, err := engA.ListVaults(ctx, alice)
	must(err, "list vaults")
	if !slices.Contains(vaults, w.vault) {
		e.fatalf("vault scenario: the admin's vault list lacks the vault (%d vaults)", len(vaults))
	}
	members, err := va.Members(ctx)
	must(err, "members")
	if len(members) != 2 {
		e.fatalf("vault scenario: %d members after revoking one of three, want 2", len(members))
	}
	return []*Spy{spyA, spyB}
}

func checkVaultLifecycle(e *env) {
	vaultScenario(e, newVaultWorld())
	e.logf("create, put, get, list, grant, member read and write on a second client, rotate, revoke, delete: ok")
}

func checkVaultOpaque(e *env) {
	w := newVaultWorld()
	watched := w.watched() // before the scenario edits the world
	spies := vaultScenario(e, w)
	var calls, keys, values int
	for i, s := range spies {
		c, k, v := s.Stats()
		calls, keys, values = calls+c, keys+k, values+v
		if leaks := s.Find(watched); len(leaks) > 0 {
			msg := fmt.Sprintf("%d plaintext sightings in what client %d sent to the store:", len(leaks), i+1)
			for j, l := range leaks {
				if j == 10 {
					msg += fmt.Sprintf("\n  ... and %d more", len(leaks)-10)
					break
				}
				msg += "\n  " + l.String()
			}
			e.fatalf("%s", msg)
		}
	}
	if values == 0 || keys == 0 {
		e.fatalf("the spies recorded %d keys and %d values: the scenario did not reach the store", keys, values)
	}
	e.logf("%d calls, %d distinct keys, %d values written: no vault name, member name, credential name or value in any of them (raw, case-folded, hex, base64, base32)", calls, keys, values)
}
