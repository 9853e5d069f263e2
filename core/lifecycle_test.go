package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/sdk"
)

func TestLifecycle(t *testing.T) { overStores(t, scenarioLifecycle) }

// scenarioLifecycle walks a vault through create, put/get/list/delete,
// grant, rotate and revoke, checking roles, errors and what the revoked
// member keeps.
func scenarioLifecycle(t *testing.T, st sdk.Store) {
	ctx := context.Background()
	alice, bob, carol := testIdentity(t, "alice"), testIdentity(t, "bob"), testIdentity(t, "carol")
	ea, eb, ec := newEngine(t, st, nil), newEngine(t, st, nil), newEngine(t, st, nil)

	va, err := ea.CreateVault(ctx, "prod-vault", alice, "alice-admin")
	must(t, err)
	if _, err := ea.CreateVault(ctx, "prod-vault", alice, "alice-admin"); !errors.Is(err, ErrVaultExists) {
		t.Fatalf("second create: %v, want ErrVaultExists", err)
	}
	if _, err := eb.Unlock(ctx, "prod-vault", bob); !errors.Is(err, ErrVaultNotFound) {
		t.Fatalf("bob unlock before grant: %v, want ErrVaultNotFound", err)
	}
	creds := map[string]string{"db-password": "hunter2-secret", "api-token": "tok-0123456789", "ssh-key": "-----BEGIN-KEY-----"}
	for n, v := range creds {
		must(t, va.Put(ctx, n, []byte(v)))
	}
	got, err := va.Get(ctx, "db-password")
	if err != nil || string(got) != "hunter2-secret" {
		t.Fatalf("get: %q %v", got, err)
	}
	must(t, va.Put(ctx, "db-password", []byte("hunter3-secret")))
	if got, _ := va.Get(ctx, "db-password"); string(got) != "hunter3-secret" {
		t.Fatalf("overwrite: got %q", got)
	}
	creds["db-password"] = "hunter3-secret"
	if _, err := va.Get(ctx, "nope"); !errors.Is(err, ErrCredentialNotFound) {
		t.Fatalf("missing get: %v", err)
	}
	must(t, va.Put(ctx, "temp", []byte("x")))
	must(t, va.Delete(ctx, "temp"))
	if err := va.Delete(ctx, "temp"); !errors.Is(err, ErrCredentialNotFound) {
		t.Fatalf("double delete: %v", err)
	}
	names, err := va.List(ctx)
	must(t, err)
	if !slices.Equal(names, []string{"api-token", "db-password", "ssh-key"}) {
		t.Fatalf("list: %v", names)
	}

	// Grant: O(1) in credentials (exactly one slot, one index entry, head + log).
	before := len(dump(t, st))
	must(t, va.Grant(ctx, bob.Recipient(), "bob-member", RoleMember, classicalOK))
	if d := len(dump(t, st)) - before; d > 3 {
		t.Fatalf("grant added %d keys, want at most 3 (slot, index entry, head log)", d)
	}
	if err := va.Grant(ctx, bob.Recipient(), "bob-again", RoleMember, classicalOK); !errors.Is(err, ErrMemberExists) {
		t.Fatalf("re-grant: %v", err)
	}
	if err := va.Grant(ctx, carol.Recipient(), "bob-member", RoleMember, classicalOK); !errors.Is(err, ErrMemberExists) {
		t.Fatalf("grant with a taken name: %v", err)
	}
	must(t, va.Grant(ctx, carol.Recipient(), "carol-admin", RoleAdmin, classicalOK))
	ms, err := va.Members(ctx)
	must(t, err)
	if len(ms) != 3 || ms[0].Name != "alice-admin" || ms[0].Role != RoleAdmin || ms[1].Name != "bob-member" || ms[1].Role != RoleMember ||
		ms[2].Name != "carol-admin" || ms[2].Role != RoleAdmin || !ms[1].Recipient.Equal(bob.Recipient()) {
		t.Fatalf("members: %+v", ms)
	}

	vb, err := eb.Unlock(ctx, "prod-vault", bob)
	must(t, err)
	for n, v := range creds {
		if got, err := vb.Get(ctx, n); err != nil || string(got) != v {
			t.Fatalf("bob get %s: %q %v", n, got, err)
		}
	}
	must(t, vb.Put(ctx, "bob-wrote", []byte("from-bob")))
	creds["bob-wrote"] = "from-bob"
	if err := vb.Grant(ctx, testIdentity(t, "dave").Recipient(), "dave", RoleMember, classicalOK); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("member grant: %v", err)
	}
	if _, err := vb.Revoke(ctx, "alice-admin"); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("member revoke: %v", err)
	}
	if err := errOf(vb.Rotate(ctx)); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("member rotate: %v", err)
	}
	// (Contains: on a shared backend other scenarios' vaults may be listed.)
	if l, err := eb.ListVaults(ctx, bob); err != nil || !slices.Contains(l, "prod-vault") {
		t.Fatalf("bob vaults: %v %v", l, err)
	}

	// Rotate by the second admin; everyone keeps reading.
	vc, err := ec.Unlock(ctx, "prod-vault", carol)
	must(t, err)
	must(t, errOf(vc.Rotate(ctx)))
	for _, v := range []*Vault{va, vb, vc} {
		for n, want := range creds {
			if got, err := v.Get(ctx, n); err != nil || string(got) != want {
				t.Fatalf("after rotate, get %s: %q %v", n, got, err)
			}
		}
	}

	// Revoke bob.
	bobKeys := heldKeys(vb)
	rep, err := va.Revoke(ctx, "bob-member")
	must(t, err)
	wantNames := []string{"api-token", "bob-wrote", "db-password", "ssh-key"}
	// bob-wrote was last written by bob: quarantined, not carried forward.
	if rep.Member != "bob-member" || !slices.Equal(rep.Readable, wantNames) || rep.Reencrypted != 3 ||
		len(rep.Quarantined) != 1 || rep.Quarantined[0].Name != "bob-wrote" || rep.Quarantined[0].Reason != "last written by the revoked member" {
		t.Fatalf("revoke report: %+v", rep)
	}
	if _, err := va.Get(ctx, "bob-wrote"); !errors.Is(err, ErrCredentialNotFound) {
		t.Fatalf("quarantined credential read: %v", err)
	}
	if q, err := vc.Quarantined(ctx); err != nil || len(q) != 1 || q[0].Name != "bob-wrote" {
		t.Fatalf("quarantine list: %+v %v", q, err)
	}
	if err := vc.RestoreQuarantined(ctx, "bob-wrote"); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if q, err := va.Quarantined(ctx); err != nil || len(q) != 0 {
		t.Fatalf("quarantine after restore: %+v %v", q, err)
	}
	if _, err := va.Revoke(ctx, "bob-member"); !errors.Is(err, ErrMemberNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
	if _, err := vb.Get(ctx, "api-token"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("revoked member's cached handle: %v, want ErrNotMember", err)
	}
	if _, err := eb.Unlock(ctx, "prod-vault", bob); !errors.Is(err, ErrNotMember) {
		t.Fatalf("revoked unlock: %v", err)
	}
	if l, err := eb.ListVaults(ctx, bob); err != nil || slices.Contains(l, "prod-vault") {
		t.Fatalf("revoked member lists %v %v", l, err)
	}
	assertOldKeysUseless(t, st, va, bobKeys, bob)
	// Only the current epoch's slots remain.
	s, _ := va.current()
	for _, k := range keysWith(t, st, slotPrefix(va.id), "") {
		if !strings.Contains(k, slotDir(s.head.h.Epoch, s.head.h.Commitment)) {
			t.Fatalf("old slot %s survived the revoke", k)
		}
	}
	if p, err := va.Pending(ctx); err != nil || p {
		t.Fatalf("pending after revoke: %v %v", p, err)
	}
	if s.head.h.MinEpoch != s.head.h.Epoch {
		t.Fatalf("min epoch %d, epoch %d", s.head.h.MinEpoch, s.head.h.Epoch)
	}
	for _, v := range []*Vault{va, vc} {
		for n, want := range creds {
			if got, err := v.Get(ctx, n); err != nil || string(got) != want {
				t.Fatalf("after revoke, get %s: %q %v", n, got, err)
			}
		}
	}
	// An admin cannot revoke itself (it could not finish the sweep).
	if _, err := vc.Revoke(ctx, "carol-admin"); err == nil || !strings.Contains(err.Error(), "cannot revoke itself") {
		t.Fatalf("self-revoke: %v", err)
	}
	if _, err := vc.Revoke(ctx, "alice-admin"); err != nil {
		t.Fatalf("carol revokes alice: %v", err)
	}
	if _, err := va.Get(ctx, "api-token"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("revoked admin reads: %v", err)
	}
	va = vc

	// No name appears in any key, nor in clear in any value.
	for k, val := range dump(t, st) {
		if err := sdk.ValidateKey(k); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"prod-vault", "alice-admin", "bob-member", "carol-admin", "db-password", "api-token", "hunter3-secret", "hunter2-secret", "tok-0123456789", "BEGIN-KEY"} {
			if strings.Contains(k, secret) || bytes.Contains(val, []byte(secret)) {
				t.Fatalf("%q appears in the store under %s", secret, k)
			}
		}
	}

	// Lock clears the keys.
	va.Lock()
	if _, err := va.Get(ctx, "api-token"); !errors.Is(err, ErrLocked) {
		t.Fatalf("after Lock: %v", err)
	}
	if err := va.Put(ctx, "x", []byte("y")); !errors.Is(err, ErrLocked) {
		t.Fatalf("put after Lock: %v", err)
	}
}

func TestSessionTTL(t *testing.T) {
	ctx := context.Background()
	st := storeFactories["mem"](t)
	e := newEngine(t, st, &Options{SessionTTL: time.Minute})
	// A clock the test moves, so that a slow machine cannot expire the
	// session before the test means it to.
	var mu sync.Mutex
	now := time.Now()
	e.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	v, err := e.CreateVault(ctx, "ttl", testIdentity(t, "alice"), "alice")
	must(t, err)
	must(t, v.Put(ctx, "a", []byte("b")))
	advance(59 * time.Second)
	if got, err := v.Get(ctx, "a"); err != nil || string(got) != "b" {
		t.Fatalf("before TTL: %q %v", got, err)
	}
	advance(2 * time.Second)
	if _, err := v.Get(ctx, "a"); !errors.Is(err, ErrLocked) {
		t.Fatalf("after TTL: %v", err)
	}
	v2, err := e.Unlock(ctx, "ttl", testIdentity(t, "alice"))
	must(t, err)
	if got, err := v2.Get(ctx, "a"); err != nil || string(got) != "b" {
		t.Fatalf("re-unlock: %q %v", got, err)
	}
}

func TestXChaChaRecords(t *testing.T) {
	ctx := context.Background()
	st := storeFactories["mem"](t)
	e := newEngine(t, st, &Options{RecordSuite: RecordXChaCha20Poly1305})
	v, err := e.CreateVault(ctx, "xc", testIdentity(t, "alice"), "alice")
	must(t, err)
	must(t, v.Put(ctx, "a", []byte("value-a")))
	for _, k := range keysWith(t, st, recordPrefix(v.id), "") {
		rec, err := wire.ParseRecord(get(t, st, k))
		must(t, err)
		if rec.Suite != wire.AEADXChaCha20Poly1305 || len(rec.Nonce) != 24 {
			t.Fatalf("record suite %d nonce %d", rec.Suite, len(rec.Nonce))
		}
	}
	// An AES-GCM engine reads it, rotates it (suite kept) and reads again.
	e2 := newEngine(t, st, nil)
	v2, err := e2.Unlock(ctx, "xc", testIdentity(t, "alice"))
	must(t, err)
	must(t, errOf(v2.Rotate(ctx)))
	if got, err := v2.Get(ctx, "a"); err != nil || string(got) != "value-a" {
		t.Fatalf("get: %q %v", got, err)
	}
}

func TestPendingRotationReadsAndWrites(t *testing.T) {
	ctx := context.Background()
	st := storeFactories["mem"](t)
	alice, bob := testIdentity(t, "alice"), testIdentity(t, "bob")
	e := newEngine(t, st, nil)
	v, err := e.CreateVault(ctx, "p", alice, "alice")
	must(t, err)
	must(t, v.Grant(ctx, bob.Recipient(), "bob", RoleMember, classicalOK))
	must(t, v.Put(ctx, "old", []byte("old-value")))
	// Commit a rotation without sweeping: interrupt it right after the head
	// commit by failing the first record write.
	fs := newFault(st)
	ef := newEngine(t, fs, nil)
	vf, err := ef.Unlock(ctx, "p", alice)
	must(t, err)
	fs.failOnKeyPrefix(recordPrefix(v.id))
	if err := errOf(vf.Rotate(ctx)); err == nil {
		t.Fatal("rotate with failing record writes succeeded")
	}
	fs.failOnKeyPrefix("")
	if p, err := v.Pending(ctx); err != nil || !p {
		t.Fatalf("pending: %v %v", p, err)
	}
	// A member reads old-epoch records and writes under the new epoch.
	eb := newEngine(t, st, nil)
	vb, err := eb.Unlock(ctx, "p", bob)
	must(t, err)
	if got, err := vb.Get(ctx, "old"); err != nil || string(got) != "old-value" {
		t.Fatalf("read during pending: %q %v", got, err)
	}
	must(t, vb.Put(ctx, "new", []byte("new-value")))
	s, _ := vb.current()
	rec, err := wire.ParseRecord(get(t, st, recordKey(v.id, recordID(s.cur.naming, "new"))))
	must(t, err)
	if rec.Epoch != s.head.h.Epoch || s.head.h.Pending.Kind == wire.PendingNone {
		t.Fatalf("write during pending used epoch %d, head epoch %d", rec.Epoch, s.head.h.Epoch)
	}
	if err := errOf(vb.Resume(ctx)); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("member resume: %v", err)
	}
	must(t, errOf(v.Resume(ctx)))
	if p, _ := v.Pending(ctx); p {
		t.Fatal("still pending after resume")
	}
	must(t, errOf(v.Resume(ctx))) // no-op
	for _, n := range []string{"old", "new"} {
		if _, err := vb.Get(ctx, n); err != nil {
			t.Fatalf("get %s after resume: %v", n, err)
		}
	}
}

// TestPinSharedStateDir: an engine whose in-memory pin is older than the
// pin file another process (sharing the state dir) wrote refuses a head
// between the two, and never moves the file backwards.
func TestPinSharedStateDir(t *testing.T) {
	ctx := context.Background()
	st := storeFactories["mem"](t)
	dir := stateDir(t)
	alice := testIdentity(t, "alice")
	e1 := newEngine(t, st, &Options{StateDir: dir})
	v1, err := e1.CreateVault(ctx, "shared-pin", alice, "alice") // e1 pins seq 0
	must(t, err)
	e2 := newEngine(t, st, &Options{StateDir: dir})
	v2, err := e2.Unlock(ctx, "shared-pin", alice)
	must(t, err)
	must(t, errOf(v2.Rotate(ctx))) // seq 1..3; the file now pins seq 3
	seq1 := get(t, st, logKey(v1.id, 1))
	put(t, st, headKey(v1.id), seq1) // the backend replays seq 1 to e1
	_, err = v1.Members(ctx)
	wantErr(t, err, ErrRollback, "vault head", "older than the pinned seq 3")
	pin, err := newPinStore(dir).load(v1.id, true)
	must(t, err)
	if pin.h.Seq != 3 {
		t.Fatalf("pin file moved to seq %d", pin.h.Seq)
	}
}

// TestSweepProgress: the sweep reports progress and re-encrypts every
// record, with bounded concurrency, over more than one listing page.
func TestSweepProgress(t *testing.T) {
	ctx := context.Background()
	st := storeFactories["mem"](t)
	var last Progress
	calls := 0
	e := newEngine(t, st, &Options{StateDir: stateDir(t), Concurrency: 3, Progress: func(p Progress) { last = p; calls++ }})
	v, err := e.CreateVault(ctx, "progress", testIdentity(t, "alice"), "alice")
	must(t, err)
	const n = 2100 // more than two pages of sdk.MaxListLimit
	for i := range n {
		must(t, v.Put(ctx, fmt.Sprintf("c%04d", i), []byte{byte(i)}))
	}
	must(t, errOf(v.Rotate(ctx)))
	if calls < 3 || last.Op != "sweep" || last.Vault != "progress" || last.Done != n || last.Total != n {
		t.Fatalf("progress: %d calls, last %+v", calls, last)
	}
	s, _ := v.current()
	for _, k := range keysWith(t, st, recordPrefix(v.id), "") {
		rec, err := wire.ParseRecord(get(t, st, k))
		must(t, err)
		if rec.Epoch != s.head.h.Epoch {
			t.Fatalf("record %s left at epoch %d", k, rec.Epoch)
		}
	}
	got, err := v.Get(ctx, "c2099")
	if err != nil || len(got) != 1 || got[0] != byte(2099%256) {
		t.Fatalf("get after sweep: %v %v", got, err)
	}
}
