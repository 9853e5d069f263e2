package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

// The properties of issue 13, each attacked through core's API and a hostile
// store: the revoked member bob keeps read and write access to the storage
// and every key it held.

// propertyStores are the in-process backends of the property tests: the
// in-memory store and the fs store, each raw (no atomic guard: the SDK's
// emulation, as on S3 and GCS) and behind the atomic test guard (as fs and
// PostgreSQL natively).
var propertyStores = map[string]func(t *testing.T) sdk.Store{
	"mem":        func(t *testing.T) sdk.Store { return atomicGuard(memstore.New()) },
	"fs":         func(t *testing.T) sdk.Store { return atomicGuard(openFS(t)) },
	"mem-noatom": func(t *testing.T) sdk.Store { return plainStore{memstore.New()} },
	"fs-noatom":  func(t *testing.T) sdk.Store { return plainStore{openFS(t)} },
}

// plainStore hides every optional capability of a Store (a native batch,
// an atomic guard): what a plugin on S3 or GCS offers.
type plainStore struct{ sdk.Store }

func openFS(t *testing.T) sdk.Store {
	st, err := fs.Open(stateDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func overPropertyStores(t *testing.T, fn func(t *testing.T, st sdk.Store)) {
	for name, f := range propertyStores {
		t.Run(name, func(t *testing.T) { fn(t, f(t)) })
	}
}

// revokeFixture: alice (admin), carol (admin), bob (member, to be revoked).
type revokeFixture struct {
	st             sdk.Store
	va, vb, vc     *Vault
	alice, bob, cr *Identity
	bobKeys        []*epochKey
}

func newRevokeFixture(t *testing.T, st sdk.Store) *revokeFixture {
	ctx := context.Background()
	f := &revokeFixture{st: st, alice: testIdentity(t, "alice"), bob: testIdentity(t, "bob"), cr: testIdentity(t, "carol")}
	var err error
	name := fmt.Sprintf("revoke-%d", time.Now().UnixNano())
	f.va, err = newEngine(t, st, nil).CreateVault(ctx, name, f.alice, "alice")
	must(t, err)
	must(t, f.va.Grant(ctx, f.bob.Recipient(), "bob", RoleMember, classicalOK))
	must(t, f.va.Grant(ctx, f.cr.Recipient(), "carol", RoleAdmin, classicalOK))
	for _, n := range []string{"db-password", "webhook-url", "api-token"} {
		must(t, f.va.Put(ctx, n, []byte("good-"+n)))
	}
	f.vb, err = newEngine(t, st, nil).Unlock(ctx, name, f.bob)
	must(t, err)
	must(t, f.vb.Put(ctx, "bob-note", []byte("written by bob")))
	f.bobKeys = heldKeys(f.vb)
	f.vc, err = newEngine(t, st, nil).Unlock(ctx, name, f.cr)
	must(t, err)
	return f
}

// forge writes, as the revoked member would with its old keys, a signed
// format-2 record of name under key k at its id under k's naming key.
func forge(t *testing.T, st sdk.Store, vault [wire.IDLen]byte, k *epochKey, writer *Identity, name, value string) string {
	t.Helper()
	v := &Vault{id: vault}
	plain := v.signedPlain(wire.RecordV2, writer, name, []byte(value), time.Now().UnixNano())
	rid := recordID(k.naming, name)
	key := recordKey(vault, rid)
	put(t, st, key, sealRecord(k, wire.AEADAES256GCM, wire.RecordV2, wire.RecordCredential, vault, rid, plain))
	return key
}

// interruptedRevoke revokes bob but makes the sweep fail, leaving the
// rotation pending (the window the revoked member attacks).
func interruptedRevoke(t *testing.T, f *revokeFixture) {
	t.Helper()
	ctx := context.Background()
	fault := newFault(f.st)
	fault.failOnKeyPrefix(recordPrefix(f.va.id))
	e := newEngine(t, fault, nil)
	v, err := e.Unlock(ctx, f.va.name, f.alice)
	must(t, err)
	if _, err := v.Revoke(ctx, "bob"); err == nil {
		t.Fatal("the interrupted revoke completed")
	}
	if p, err := f.va.Pending(ctx); err != nil || !p {
		t.Fatalf("pending after the interruption: %v %v", p, err)
	}
}

// Property 1: no value written by the revoked member is accepted, during
// the pending rotation nor after it; its last values are quarantined.
func TestRevokedWriterRefused(t *testing.T) { overPropertyStores(t, scenarioRevokedWriter) }

func scenarioRevokedWriter(t *testing.T, st sdk.Store) {
	ctx := context.Background()
	f := newRevokeFixture(t, st)
	old := f.bobKeys[0]
	interruptedRevoke(t, f)
	// Bob, revoked, replaces webhook-url under the old key and id, signed
	// with his own key, and forges api-token as if alice wrote it.
	forge(t, st, f.va.id, old, f.bob, "webhook-url", "https://evil.example")
	forge(t, st, f.va.id, old, &Identity{rcpt: f.alice.rcpt, sign: f.bob.sign}, "api-token", "evil-token")
	// carol's session predates the revoke: once its head is older than
	// HeadMaxAge, a read re-reads the head and sees the pending revoke.
	f.vc.e.now = func() time.Time { return time.Now().Add(HeadMaxAge + time.Millisecond) }
	for _, n := range []string{"webhook-url", "api-token"} {
		got, err := f.vc.Get(ctx, n)
		if err == nil {
			t.Fatalf("a forged %s was accepted during the pending revoke: %q", n, got)
		}
		wantErr(t, err, ErrTampered, "credential record", "no current member")
	}
	// A remaining member's old-epoch record still reads.
	if got, err := f.vc.Get(ctx, "db-password"); err != nil || string(got) != "good-db-password" {
		t.Fatalf("remaining member's record during the pending revoke: %q %v", got, err)
	}
	if names, err := f.vc.List(ctx); err != nil || slices.Contains(names, "webhook-url") {
		t.Fatalf("list during the pending revoke: %v %v", names, err)
	}
	rep, err := f.vc.Resume(ctx)
	must(t, err)
	var q []string
	for _, r := range rep.Quarantined {
		q = append(q, r.Name+":"+r.Reason)
	}
	slices.Sort(q)
	if len(q) != 3 || !strings.HasPrefix(q[0], "api-token:written under the previous key by no current member") ||
		q[1] != "bob-note:last written by the revoked member" || q[2] != "webhook-url:last written by the revoked member" {
		t.Fatalf("quarantined %v", q)
	}
	for _, n := range []string{"webhook-url", "api-token", "bob-note"} {
		if _, err := f.va.Get(ctx, n); !errors.Is(err, ErrCredentialNotFound) {
			t.Fatalf("quarantined %s reads: %v", n, err)
		}
	}
	if got, err := f.va.Get(ctx, "db-password"); err != nil || string(got) != "good-db-password" {
		t.Fatalf("after the revoke: %q %v", got, err)
	}
	ql, err := f.va.Quarantined(ctx)
	must(t, err)
	if len(ql) != 3 || ql[2].Name != "webhook-url" || ql[2].Writer != f.bob.rcpt.ID() {
		t.Fatalf("quarantine list %+v", ql)
	}
	// After the revoke, bob writes again with his old keys: refused.
	k := forge(t, st, f.va.id, old, f.bob, "db-password", "evil")
	if got, err := f.va.Get(ctx, "db-password"); err != nil || string(got) != "good-db-password" {
		t.Fatalf("after a late forgery: %q %v", got, err)
	}
	if names, err := f.va.List(ctx); err != nil || len(names) != 1 {
		t.Fatalf("list after a late forgery: %v %v", names, err)
	}
	tamperDelete(t, st, k) // (bob can write it; it stays unreadable to all: see assertOldKeysUseless below)
	// An admin drops one and vouches for another.
	must(t, f.va.DropQuarantined(ctx, "webhook-url"))
	must(t, f.va.RestoreQuarantined(ctx, "bob-note"))
	if got, err := f.vc.Get(ctx, "bob-note"); err != nil || string(got) != "written by bob" {
		t.Fatalf("restored: %q %v", got, err)
	}
	if err := f.vb.RestoreQuarantined(ctx, "api-token"); !errors.Is(err, ErrNotMember) && !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("revoked member restores: %v", err)
	}
	assertOldKeysUseless(t, st, f.va, f.bobKeys, f.bob)
}

// Property 2: planted blobs never stop the sweep: each is reported and
// deleted, and the revoke finishes.
func TestSweepSurvivesPlantedBlobs(t *testing.T) { overPropertyStores(t, scenarioPlanted) }

func scenarioPlanted(t *testing.T, st sdk.Store) {
	ctx := context.Background()
	f := newRevokeFixture(t, st)
	old := f.bobKeys[0]
	// Garbage, a key that is not a record id, a forgery of bob under the
	// old key, a genuine blob copied under another record id, and a blob
	// of another vault.
	garbage := recordPrefix(f.va.id) + strings.Repeat("ab", 32)
	put(t, st, garbage, []byte("not a record at all"))
	notID := recordPrefix(f.va.id) + "not-an-id"
	put(t, st, notID, []byte("x"))
	s, _ := f.va.current()
	genuine := get(t, st, recordKey(f.va.id, recordID(s.cur.naming, "db-password")))
	moved := recordPrefix(f.va.id) + strings.Repeat("cd", 32)
	put(t, st, moved, genuine)
	bad := forge(t, st, f.va.id, old, f.bob, "planted", "evil")
	truncated := recordPrefix(f.va.id) + strings.Repeat("ef", 32)
	put(t, st, truncated, genuine[:len(genuine)-1])
	rep, err := f.va.Revoke(ctx, "bob")
	must(t, err)
	var discarded []string
	for _, d := range rep.Discarded {
		if d.Kind != kindRecord || d.Reason == "" {
			t.Fatalf("discarded %+v", d)
		}
		discarded = append(discarded, d.Key)
	}
	slices.Sort(discarded)
	want := []string{garbage, notID, moved, truncated}
	slices.Sort(want)
	if !slices.Equal(discarded, want) {
		t.Fatalf("discarded %v, want %v", rep.Discarded, want)
	}
	if !slices.ContainsFunc(rep.Quarantined, func(q QuarantinedRecord) bool { return q.Name == "planted" }) {
		t.Fatalf("the forgery %s was not quarantined: %+v", bad, rep.Quarantined)
	}
	if p, err := f.va.Pending(ctx); err != nil || p {
		t.Fatalf("pending after the revoke: %v %v", p, err)
	}
	for _, n := range []string{"db-password", "webhook-url", "api-token"} {
		if got, err := f.vc.Get(ctx, n); err != nil || string(got) != "good-"+n {
			t.Fatalf("%s after the revoke: %q %v", n, got, err)
		}
	}
	for _, k := range []string{garbage, notID, moved, truncated, bad} {
		if _, _, err := st.Get(ctx, k); !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("%s survived the sweep: %v", k, err)
		}
	}
	assertOldKeysUseless(t, st, f.va, f.bobKeys, f.bob)
}

// pauseStore holds the first single-record batch (a put) until released,
// after its caller built it on the head it had read.
type pauseStore struct {
	*atomicStore
	once    sync.Once
	held    chan struct{}
	release chan struct{}
	prefix  string
}

func (p *pauseStore) WriteBatch(ctx context.Context, g *sdk.Guard, ws []sdk.Write) ([]sdk.WriteResult, error) {
	if len(ws) == 1 && strings.HasPrefix(ws[0].Key, p.prefix) && ws[0].Kind == sdk.WritePut {
		hit := false
		p.once.Do(func() { hit = true })
		if hit {
			close(p.held)
			<-p.release
		}
	}
	return p.atomicStore.WriteBatch(ctx, g, ws)
}

// Property 3 on a store with an atomic guard: a put built on the head
// before the revoke lands, if at all, under the new key (no window).
func TestStaleWriterAtomic(t *testing.T) {
	for _, name := range []string{"mem", "fs"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			base := propertyStores[name](t).(*atomicStore)
			f := newRevokeFixture(t, base)
			vault := recordPrefix(f.va.id)
			p := &pauseStore{atomicStore: base, held: make(chan struct{}), release: make(chan struct{}), prefix: vault}
			vw, err := newEngine(t, p, nil).Unlock(ctx, f.va.name, f.cr)
			must(t, err)
			done := make(chan error, 1)
			go func() { done <- vw.Put(ctx, "late", []byte("written during the revoke")) }()
			<-p.held // the writer built its record under the old key
			if _, err := f.va.Revoke(ctx, "bob"); err != nil {
				t.Fatal(err)
			}
			close(p.release)
			must(t, <-done)
			s, _ := f.va.current()
			raw := get(t, base, recordKey(f.va.id, recordID(s.cur.naming, "late")))
			rec, err := wire.ParseRecord(raw)
			must(t, err)
			if rec.Epoch != s.head.h.Epoch {
				t.Fatalf("the late put landed under epoch %d, head epoch %d", rec.Epoch, s.head.h.Epoch)
			}
			if got, err := f.va.Get(ctx, "late"); err != nil || string(got) != "written during the revoke" {
				t.Fatalf("late put: %q %v", got, err)
			}
			assertOldKeysUseless(t, base, f.va, f.bobKeys, f.bob)
		})
	}
}

// lateStore delays the first record Put of its engine (after the SDK's
// emulated batch checked the guard), as a slow S3 or GCS request would.
type lateStore struct {
	sdk.Store
	once   sync.Once
	held   chan struct{}
	delay  time.Duration
	prefix string
}

func (l *lateStore) Put(ctx context.Context, key string, v []byte, c sdk.Cond) (sdk.Version, error) {
	if strings.HasPrefix(key, l.prefix) {
		hit := false
		l.once.Do(func() { hit = true })
		if hit {
			close(l.held)
			time.Sleep(l.delay)
		}
	}
	return l.Store.Put(ctx, key, v, c)
}

// Property 3 on a store without an atomic guard (S3, GCS): a put whose
// guard check passed before the revoke committed lands under the old key
// within the write timeout; the revoke waits it out and its final pass
// moves it under the new key.
func TestStaleWriterWindow(t *testing.T) {
	for _, name := range []string{"mem-noatom", "fs-noatom"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			base := propertyStores[name](t)
			f := newRevokeFixture(t, base)
			const w = 400 * time.Millisecond
			l := &lateStore{Store: base, held: make(chan struct{}), delay: w / 2, prefix: recordPrefix(f.va.id)}
			ew := newEngine(t, l, nil)
			ew.writeTimeout = w
			vw, err := ew.Unlock(ctx, f.va.name, f.cr)
			must(t, err)
			done := make(chan error, 1)
			go func() { done <- vw.Put(ctx, "late", []byte("landed late")) }()
			<-l.held // guard checked under the old head; the write is in flight
			ea := newEngine(t, base, nil)
			ea.writeTimeout = w
			va, err := ea.Unlock(ctx, f.va.name, f.alice)
			must(t, err)
			start := time.Now()
			if _, err := va.Revoke(ctx, "bob"); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el < w {
				t.Fatalf("the revoke returned after %v, before the write timeout %v", el, w)
			}
			must(t, <-done)
			s, _ := va.current()
			for k, raw := range dump(t, base) {
				if !strings.HasPrefix(k, recordPrefix(f.va.id)) {
					continue
				}
				rec, err := wire.ParseRecord(raw)
				must(t, err)
				if rec.Epoch != s.head.h.Epoch {
					t.Fatalf("%s left under epoch %d after the revoke (head epoch %d)", k, rec.Epoch, s.head.h.Epoch)
				}
			}
			if got, err := va.Get(ctx, "late"); err != nil || string(got) != "landed late" {
				t.Fatalf("late put: %q %v", got, err)
			}
			assertOldKeysUseless(t, base, va, f.bobKeys, f.bob)
			// A write later still than the bound (the writer saw its
			// error) stays unreadable to all and never breaks List.
			forge(t, base, f.va.id, f.bobKeys[0], f.cr, "later", "too late")
			if names, err := va.List(ctx); err != nil || slices.Contains(names, "later") {
				t.Fatalf("list with a too-late write: %v %v", names, err)
			}
		})
	}
}

// Property 4: after the revoke the revoked member cannot link a record to a
// name (the naming key rotated, every record moved), and sizes are padded.
func TestRevokedLearnsNoNames(t *testing.T) { overPropertyStores(t, scenarioNames) }

func scenarioNames(t *testing.T, st sdk.Store) {
	ctx := context.Background()
	f := newRevokeFixture(t, st)
	old := f.bobKeys[0]
	_, err := f.va.Revoke(ctx, "bob")
	must(t, err)
	must(t, f.va.Put(ctx, "db-password", []byte("rotated at the source")))
	must(t, f.va.Put(ctx, "new-after-revoke", []byte("x")))
	keys := keysWith(t, st, recordPrefix(f.va.id), "")
	if len(keys) != 4 { // db-password, webhook-url, api-token, new-after-revoke
		t.Fatalf("records %v", keys)
	}
	for _, n := range []string{"db-password", "webhook-url", "api-token", "new-after-revoke", "bob-note"} {
		if k := recordKey(f.va.id, recordID(old.naming, n)); slices.Contains(keys, k) {
			t.Fatalf("the revoked member finds %s at %s", n, k)
		}
	}
	// Padding: 1 byte and 100 bytes fill the same bucket.
	must(t, f.va.Put(ctx, "short", []byte("x")))
	must(t, f.va.Put(ctx, "long", []byte(strings.Repeat("y", 100))))
	s, _ := f.va.current()
	a := get(t, st, recordKey(f.va.id, recordID(s.cur.naming, "short")))
	b := get(t, st, recordKey(f.va.id, recordID(s.cur.naming, "long")))
	if len(a) != len(b) {
		t.Fatalf("record sizes %d and %d: values are not padded", len(a), len(b))
	}
	for n, want := range map[int]int{1: 256, 255: 256, 256: 256, 257: 512, 65536: 65536, 65537: 131072, 200000: 262144, wire.MaxPadded + 1: -1} {
		if got := wire.PaddedLen(n); got != want {
			t.Fatalf("PaddedLen(%d) = %d, want %d", n, got, want)
		}
	}
	if wire.PaddedLen(1<<20-600) != wire.MaxPadded {
		t.Fatal("the last bucket is not MaxPadded")
	}
	// The largest value still fits the store once padded.
	big := make([]byte, maxCredValue)
	must(t, f.va.Put(ctx, "big", big))
	if got, err := f.va.Get(ctx, "big"); err != nil || len(got) != len(big) {
		t.Fatalf("largest value: %d %v", len(got), err)
	}
}

// Property 7: Grant enforces the head's caps before committing; the vault
// keeps opening on a fresh host.
func TestGrantCaps(t *testing.T) {
	for _, name := range []string{"mem", "fs"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := propertyStores[name](t)
			alice := testIdentity(t, "alice")
			v, err := newEngine(t, st, nil).CreateVault(ctx, "caps", alice, "alice")
			must(t, err)
			long := strings.Repeat("n", wire.MaxNameLen-4)
			n := 0
			for ; ; n++ {
				id, err := NewIdentity(SuiteX25519)
				must(t, err)
				err = v.Grant(ctx, id.Recipient(), fmt.Sprintf("%s%04d", long, n), RoleMember, classicalOK)
				if errors.Is(err, ErrVaultFull) {
					wantErr(t, err, ErrVaultFull, "metadata")
					break
				}
				must(t, err)
				if n > wire.MaxMembers {
					t.Fatal("no cap")
				}
			}
			ms, err := v.Members(ctx)
			must(t, err)
			if len(ms) != n+1 {
				t.Fatalf("%d members after %d grants", len(ms), n)
			}
			fresh, err := newEngine(t, st, nil).Unlock(ctx, "caps", alice)
			must(t, err)
			if ms, err := fresh.Members(ctx); err != nil || len(ms) != n+1 {
				t.Fatalf("fresh host: %d %v", len(ms), err)
			}
			if name != "mem" {
				return
			}
			// The member cap, with short names.
			v2, err := newEngine(t, st, nil).CreateVault(ctx, "caps-members", alice, "alice")
			must(t, err)
			for i := 1; ; i++ {
				id, err := NewIdentity(SuiteX25519)
				must(t, err)
				err = v2.Grant(ctx, id.Recipient(), fmt.Sprintf("m%d", i), RoleMember, classicalOK)
				if i < wire.MaxMembers {
					must(t, err)
					continue
				}
				wantErr(t, err, ErrVaultFull, "members")
				break
			}
			fresh, err = newEngine(t, st, nil).Unlock(ctx, "caps-members", alice)
			must(t, err)
			if ms, err := fresh.Members(ctx); err != nil || len(ms) != wire.MaxMembers {
				t.Fatalf("fresh host: %d %v", len(ms), err)
			}
		})
	}
}

// The replaced session's epoch and naming keys are wiped when a reader
// refreshes into a new epoch.
func TestRefreshWipesReplacedKeys(t *testing.T) {
	ctx := context.Background()
	f := newRevokeFixture(t, atomicGuard(memstore.New()))
	old, err := f.vc.current()
	must(t, err)
	_, err = f.va.Rotate(ctx)
	must(t, err)
	if _, err := f.vc.List(ctx); err != nil { // refreshes into the new epoch
		t.Fatal(err)
	}
	for _, k := range []*epochKey{old.cur} {
		if !k.wiped || strings.Trim(string(k.key), "\x00") != "" || strings.Trim(string(k.naming), "\x00") != "" {
			t.Fatalf("epoch %d keys not wiped after the refresh", k.epoch)
		}
	}
	if got, err := f.vc.Get(ctx, "db-password"); err != nil || string(got) != "good-db-password" {
		t.Fatalf("after the refresh: %q %v", got, err)
	}
}

// A classical recipient into a post-quantum vault needs AllowClassical.
func TestGrantClassicalNeedsConsent(t *testing.T) {
	ctx := context.Background()
	st := atomicGuard(memstore.New())
	v, err := newEngine(t, st, nil).CreateVault(ctx, "pq", testIdentity(t, "alice"), "alice")
	must(t, err)
	err = v.Grant(ctx, testIdentity(t, "bob").Recipient(), "bob", RoleMember, nil)
	wantErr(t, err, ErrClassicalRecipient)
	must(t, v.Grant(ctx, testIdentity(t, "carol").Recipient(), "carol", RoleMember, nil)) // hybrid: fine
	must(t, v.Grant(ctx, testIdentity(t, "bob").Recipient(), "bob", RoleMember, &GrantOptions{AllowClassical: true}))
	// Once a classical member is in, another one adds no new exposure.
	must(t, v.Grant(ctx, testIdentity(t, "dave").Recipient(), "dave", RoleMember, nil))
}

// A vault stored in format 1 keeps opening; the next revoke upgrades it to
// format 2 (a plain rotation first, then the revoke), and it reads again.
func TestV1VaultUpgrades(t *testing.T) {
	for _, name := range []string{"mem", "fs"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			vec := loadVaultVector(t, vectorPath("vault-v1.json"))
			st := propertyStores[name](t)
			for k, v := range vec.Store {
				put(t, st, k, unb64(t, v))
			}
			alice, err := ParseIdentity(unb64(t, vec.Alice), nil)
			must(t, err)
			bob, err := ParseIdentity(unb64(t, vec.Bob), func() ([]byte, error) { return []byte(vec.BobPass), nil })
			must(t, err)
			v, err := newEngine(t, st, nil).Unlock(ctx, vec.Vault, alice)
			must(t, err)
			if v.FormatVersion() != 1 || !v.HeadTime().IsZero() {
				t.Fatalf("format %d, head time %v", v.FormatVersion(), v.HeadTime())
			}
			read := func(v *Vault) {
				for n, want := range vec.Credentials {
					if got, err := v.Get(ctx, n); err != nil || string(got) != want {
						t.Fatalf("%s: %q %v", n, got, err)
					}
				}
			}
			read(v)
			vb, err := newEngine(t, st, nil).Unlock(ctx, vec.Vault, bob)
			must(t, err)
			read(vb)
			// A format-1 member write, then the revoke that upgrades.
			must(t, vb.Put(ctx, "bob-v1", []byte("written in format 1")))
			rep, err := v.Revoke(ctx, "bob")
			must(t, err)
			// The upgrade rotation attributed the format-1 records to alice:
			// nothing is quarantined, everything is carried forward.
			if len(rep.Quarantined) != 0 || len(rep.Discarded) != 0 {
				t.Fatalf("revoke report %+v", rep)
			}
			if v.FormatVersion() != 2 || v.HeadTime().IsZero() {
				t.Fatalf("after the revoke: format %d, head time %v", v.FormatVersion(), v.HeadTime())
			}
			for k, raw := range dump(t, st) {
				switch {
				case k == headKey(v.id) || strings.HasPrefix(k, vaultPrefix(v.id)+"r/"):
					if raw[4] != 2 {
						t.Fatalf("%s is stored in format %d", k, raw[4])
					}
				}
			}
			fresh, err := newEngine(t, st, nil).Unlock(ctx, vec.Vault, alice)
			must(t, err)
			read(fresh)
			if got, err := fresh.Get(ctx, "bob-v1"); err != nil || string(got) != "written in format 1" {
				t.Fatalf("bob-v1: %q %v", got, err)
			}
			if _, err := newEngine(t, st, nil).Unlock(ctx, vec.Vault, bob); !errors.Is(err, ErrNotMember) {
				t.Fatalf("bob after the revoke: %v", err)
			}
		})
	}
}

// Property 6 (head parts): heads carry a signed time that HeadTime reports;
// a host pinned before a revoke refuses a fork signed by the revoked admin
// from the last head where it was admin, when the head log shows the
// genuine successor; and a head served while the log holds its signed
// successor (newer heads withheld) is refused.
func TestForkByRevokedAdmin(t *testing.T) {
	for _, name := range []string{"mem", "fs"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := propertyStores[name](t)
			f := newRevokeFixture(t, st)
			t0 := f.va.HeadTime()
			if t0.IsZero() || time.Since(t0) > time.Minute {
				t.Fatalf("head time %v", t0)
			}
			// dave's host pins the head where carol is still admin.
			dave := testIdentity(t, "dave")
			must(t, f.va.Grant(ctx, dave.Recipient(), "dave", RoleMember, classicalOK))
			ed := newEngine(t, st, nil)
			vd, err := ed.Unlock(ctx, f.va.name, dave)
			must(t, err)
			before, _ := vd.current()
			// Genuine chain: alice revokes carol.
			_, err = f.va.Revoke(ctx, "carol")
			must(t, err)
			if !f.va.HeadTime().After(t0) {
				t.Fatalf("head time did not advance: %v then %v", t0, f.va.HeadTime())
			}
			genuine := get(t, st, headKey(f.va.id))
			// carol forks from the head dave pinned: a successor she signs
			// as the admin she was there (the log keeps the genuine one).
			fork := copyHead(before.head.h)
			fork.Time = time.Now().UnixNano()
			next := fork
			next.Seq, next.Prev, next.Signer = before.head.h.Seq+1, before.head.hash, f.cr.rcpt.id
			ids := make([][wire.IDLen]byte, len(next.Members))
			for i, m := range next.Members {
				ids[i] = m.ID
			}
			next.Meta = sealMeta(before.cur, next.Vault, next.Seq, before.meta.Marshal(ids))
			next.Signature = signHead(f.cr, next)
			tamper(t, st, headKey(f.va.id), next.Marshal())
			_, err = vd.List(ctx)
			wantErr(t, err, ErrRollback, "vault head", "fork")
			// Head withheld: the backend serves an older head while the log
			// holds its signed successor.
			tamper(t, st, headKey(f.va.id), genuine)
			s, _ := f.va.current()
			prevLog := get(t, st, logKey(f.va.id, s.head.h.Seq-1))
			tamper(t, st, headKey(f.va.id), prevLog)
			_, err = newEngine(t, st, nil).Unlock(ctx, f.va.name, f.alice)
			wantErr(t, err, ErrRollback, "vault head", "withheld")
			tamper(t, st, headKey(f.va.id), genuine)
			// History: every step verified, with the changes named.
			hist, err := f.va.History(ctx)
			must(t, err)
			var kinds []string
			for _, e := range hist {
				for _, c := range e.Changes {
					kinds = append(kinds, c.Kind.String()+":"+c.Member)
				}
				if e.SignerFingerprint == "" || e.FormatVersion != 2 || e.Time.IsZero() {
					t.Fatalf("history entry %+v", e)
				}
			}
			want := []string{"created:", "granted:bob", "granted:carol", "granted:dave", "revoked:carol", "rotation-done:", "old-keys-deleted:"}
			if !slices.Equal(kinds, want) {
				t.Fatalf("history %v, want %v", kinds, want)
			}
			if hist[len(hist)-1].Hash != fmt.Sprintf("%x", wire.HeadHash(genuine)) || hist[1].Signer != "alice" {
				t.Fatalf("history tail %+v", hist[len(hist)-1])
			}
			// A broken log breaks History with an error naming the head.
			tamperDelete(t, st, logKey(f.va.id, 1))
			_, err = f.va.History(ctx)
			wantErr(t, err, ErrRollback, "vault head", logKey(f.va.id, 1))
		})
	}
}

// pausingLister lists one entry per page and, once the lister has read
// `after` pages under prefix, runs hook (another host's revoke) before it
// answers the next page.
type pausingLister struct {
	sdk.Store
	prefix string
	after  int
	pages  int
	hook   func()
}

func (p *pausingLister) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	if strings.HasPrefix(opts.Prefix, p.prefix) {
		if p.pages++; p.pages == p.after+1 && p.hook != nil {
			p.hook()
			p.hook = nil
		}
		opts.Limit = 1
	}
	return p.Store.List(ctx, opts)
}

// A List that runs while another host's revoke moves every record to a new
// id misses none: without a second walk, the records whose old id sorts
// after the listing's position and whose new id sorts before it were in
// neither place when the listing passed.
func TestListDuringRevokeMissesNothing(t *testing.T) {
	overPropertyStores(t, func(t *testing.T, st sdk.Store) {
		ctx := context.Background()
		f := newRevokeFixture(t, st)
		// bob-note, bob's last write, is quarantined by the revoke: a
		// listing that began before it may or may not show it.
		want := []string{"api-token", "db-password", "webhook-url"}
		for i := range 40 {
			n := fmt.Sprintf("cred-%02d", i)
			must(t, f.va.Put(ctx, n, []byte("v-"+n)))
			want = append(want, n)
		}
		slices.Sort(want)
		revoked := false
		pl := &pausingLister{Store: st, prefix: recordPrefix(f.va.id), after: len(want) / 2, hook: func() {
			_, err := f.va.Revoke(ctx, "bob")
			must(t, err)
			revoked = true
		}}
		vc, err := newEngine(t, pl, nil).Unlock(ctx, f.va.name, f.cr)
		must(t, err)
		got, err := vc.List(ctx)
		must(t, err)
		if !revoked {
			t.Fatal("the revoke did not run during the listing")
		}
		got = slices.DeleteFunc(got, func(n string) bool { return n == "bob-note" })
		if !slices.Equal(got, want) {
			t.Fatalf("list during a revoke: got %v, want %v", got, want)
		}
	})
}
