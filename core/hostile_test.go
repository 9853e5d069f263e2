package core

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/sdk"
)

func TestHostileBackend(t *testing.T) { overStores(t, scenarioHostile) }

// hostileFixture is a vault with two members and a second vault, plus the
// storage keys of one blob of every kind.
type hostileFixture struct {
	st          sdk.Store
	alice, bob  *Identity
	v, v2       *Vault
	rA, rB, r2  string // record keys: vault 1 "a", vault 1 "b", vault 2 "a"
	slotAlice   string
	slotBob     string
	idxBob      string
	stateDirBob string
}

var fixtureSeq atomic.Int64

func newHostileFixture(t *testing.T, st sdk.Store) *hostileFixture {
	ctx := context.Background()
	f := &hostileFixture{st: st, alice: testIdentity(t, "alice"), bob: testIdentity(t, "bob")}
	e := newEngine(t, st, nil)
	var err error
	f.v, err = e.CreateVault(ctx, fmt.Sprintf("hostile-%d", fixtureSeq.Add(1)), f.alice, "alice")
	must(t, err)
	f.v2, err = e.CreateVault(ctx, fmt.Sprintf("other-%d", fixtureSeq.Add(1)), f.alice, "alice")
	must(t, err)
	must(t, f.v.Grant(ctx, f.bob.Recipient(), "bob", RoleMember, classicalOK))
	must(t, f.v.Put(ctx, "a", []byte("value-a")))
	must(t, f.v.Put(ctx, "b", []byte("value-b")))
	must(t, f.v2.Put(ctx, "a", []byte("other-a")))
	s, _ := f.v.current()
	s2, _ := f.v2.current()
	f.rA = recordKey(f.v.id, recordID(s.cur.naming, "a"))
	f.rB = recordKey(f.v.id, recordID(s.cur.naming, "b"))
	f.r2 = recordKey(f.v2.id, recordID(s2.cur.naming, "a"))
	h := s.head.h
	f.slotAlice = slotKey(f.v.id, h.Epoch, h.Commitment, f.alice.rcpt.id)
	f.slotBob = slotKey(f.v.id, h.Epoch, h.Commitment, f.bob.rcpt.id)
	f.idxBob = indexKey(f.bob.rcpt.ID(), f.v.id)
	return f
}

// bobFresh unlocks as bob from a host without a pin.
func (f *hostileFixture) bobFresh(t *testing.T) (*Vault, error) {
	return newEngine(t, f.st, nil).Unlock(context.Background(), f.v.name, f.bob)
}

func scenarioHostile(t *testing.T, st sdk.Store) {
	ctx := context.Background()

	t.Run("record swapped between records", func(t *testing.T) {
		f := newHostileFixture(t, st)
		tamper(t, st, f.rB, get(t, st, f.rA))
		_, err := f.v.Get(ctx, "b")
		wantErr(t, err, ErrTampered, "credential record", f.rB)
	})
	t.Run("record swapped between vaults", func(t *testing.T) {
		f := newHostileFixture(t, st)
		tamper(t, st, f.rA, get(t, st, f.r2))
		_, err := f.v.Get(ctx, "a")
		wantErr(t, err, ErrTampered, "credential record", f.rA)
	})
	t.Run("head swapped between vaults", func(t *testing.T) {
		f := newHostileFixture(t, st)
		tamper(t, st, headKey(f.v.id), get(t, st, headKey(f.v2.id)))
		_, err := f.bobFresh(t)
		wantErr(t, err, ErrTampered, "vault head", headKey(f.v.id))
		_, err = f.v.Members(ctx)
		wantErr(t, err, ErrTampered, "vault head", headKey(f.v.id))
	})
	t.Run("replayed older head", func(t *testing.T) {
		f := newHostileFixture(t, st)
		old := get(t, st, headKey(f.v.id))
		must(t, errOf(f.v.Rotate(ctx)))
		tamper(t, st, headKey(f.v.id), old)
		_, err := f.v.Members(ctx)
		wantErr(t, err, ErrRollback, "vault head", headKey(f.v.id))
		// Bob's pinned host refuses it too, after having seen the newer head.
		eb := newEngine(t, st, nil)
		tamper(t, st, headKey(f.v.id), get(t, st, logKey(f.v.id, 4)))
		vb, err := eb.Unlock(ctx, f.v.name, f.bob)
		must(t, err)
		tamper(t, st, headKey(f.v.id), old)
		_, err = vb.Members(ctx)
		wantErr(t, err, ErrRollback, "vault head")
		_, err = eb.Unlock(ctx, f.v.name, f.bob)
		wantErr(t, err, ErrRollback, "vault head")
	})
	t.Run("head deleted after pinning", func(t *testing.T) {
		f := newHostileFixture(t, st)
		tamperDelete(t, st, headKey(f.v.id))
		_, err := f.v.Members(ctx)
		wantErr(t, err, ErrRollback, "vault head", "missing")
	})
	t.Run("forked head with the same seq", func(t *testing.T) {
		f := newHostileFixture(t, st)
		s, _ := f.v.current()
		forged := copyHead(s.head.h)
		forged.Seq, forged.Prev = s.head.h.Seq, s.head.h.Prev
		forged.MinEpoch = s.head.h.MinEpoch
		forged.Meta = s.head.h.Meta
		forged.Signer = f.alice.rcpt.id
		forged.Members = forged.Members[:1]
		forged.Signature = signHead(f.alice, forged)
		tamper(t, st, headKey(f.v.id), forged.Marshal())
		_, err := f.v.Members(ctx)
		wantErr(t, err, ErrRollback, "vault head", "fork")
	})
	t.Run("head signed by a non-admin member", func(t *testing.T) {
		f := newHostileFixture(t, st)
		s, _ := f.v.current()
		next := copyHead(s.head.h)
		for i := range next.Members {
			next.Members[i].Role = wire.RoleAdmin // bob promotes himself
		}
		forgeCommit(t, st, s, next, f.bob)
		_, err := f.v.Members(ctx)
		wantErr(t, err, ErrTampered, "vault head", "non-admin")
		_, err = f.bobFresh(t) // no pin: verified from the genesis head
		wantErr(t, err, ErrTampered, "vault head", "non-admin")
	})
	t.Run("head forged by an outsider", func(t *testing.T) {
		f := newHostileFixture(t, st)
		s, _ := f.v.current()
		m := testIdentity(t, "mallory")
		next := copyHead(s.head.h)
		next.Members = append(next.Members, wire.HeadMember{ID: m.rcpt.id, Role: wire.RoleAdmin, Recipient: m.rcpt.bin})
		sortMembers(next.Members)
		forgeCommit(t, st, s, next, m)
		_, err := f.v.Members(ctx)
		wantErr(t, err, ErrTampered, "vault head", "non-admin")
	})
	t.Run("head with a bad signature", func(t *testing.T) {
		f := newHostileFixture(t, st)
		raw := get(t, st, headKey(f.v.id))
		raw[len(raw)-1] ^= 1
		tamper(t, st, headKey(f.v.id), raw)
		_, err := f.bobFresh(t)
		wantErr(t, err, ErrTampered, "vault head", "bad signature")
	})
	t.Run("replayed older slot", func(t *testing.T) {
		f := newHostileFixture(t, st)
		oldSlot := get(t, st, f.slotBob)
		must(t, errOf(f.v.Rotate(ctx)))
		s, _ := f.v.current()
		cur := slotKey(f.v.id, s.head.h.Epoch, s.head.h.Commitment, f.bob.rcpt.id)
		tamper(t, st, cur, oldSlot)
		_, err := f.bobFresh(t)
		wantErr(t, err, ErrTampered, "key slot", cur)
	})
	t.Run("slot with a key that does not match the commitment", func(t *testing.T) {
		f := newHostileFixture(t, st)
		s, _ := f.v.current()
		k, n := randomKey(), randomKey()
		bad, err := sealSlot(f.bob.rcpt, f.v.id, s.head.h.Epoch, s.head.h.Commitment, &wire.SlotPayload{EpochKey: k, NamingKey: n})
		must(t, err)
		tamper(t, st, f.slotBob, bad)
		_, err = f.bobFresh(t)
		wantErr(t, err, ErrTampered, "key slot", f.slotBob, "commitment")
	})
	t.Run("slot swapped between members", func(t *testing.T) {
		f := newHostileFixture(t, st)
		tamper(t, st, f.slotBob, get(t, st, f.slotAlice))
		_, err := f.bobFresh(t)
		wantErr(t, err, ErrTampered, "key slot", f.slotBob)
	})
	t.Run("index entry swapped between vaults", func(t *testing.T) {
		f := newHostileFixture(t, st)
		// alice's entry for vault 2 placed under vault 1's key.
		aIdx1 := indexKey(f.alice.rcpt.ID(), f.v.id)
		tamper(t, st, aIdx1, get(t, st, indexKey(f.alice.rcpt.ID(), f.v2.id)))
		_, err := newEngine(t, st, nil).Unlock(ctx, f.v.name, f.alice)
		wantErr(t, err, ErrTampered, "index entry", aIdx1)
	})
	t.Run("index entry naming another vault", func(t *testing.T) {
		f := newHostileFixture(t, st)
		// A validly sealed entry (anyone can seal to a public key) that says
		// vault 2 is named like vault 1: the head's sealed name disagrees.
		aIdx2 := indexKey(f.alice.rcpt.ID(), f.v2.id)
		forged, err := sealIndex(f.alice.rcpt, f.v2.id, f.v.name)
		must(t, err)
		tamper(t, st, aIdx2, forged)
		// With the genuine entry present, the genuine vault is found.
		v, err := newEngine(t, st, nil).Unlock(ctx, f.v.name, f.alice)
		must(t, err)
		if v.ID() != f.v.ID() {
			t.Fatalf("unlocked vault %s, want %s", v.ID(), f.v.ID())
		}
		// Without it, the forged entry leads to vault 2, whose signed head
		// carries another name.
		tamperDelete(t, st, indexKey(f.alice.rcpt.ID(), f.v.id))
		_, err = newEngine(t, st, nil).Unlock(ctx, f.v.name, f.alice)
		wantErr(t, err, ErrTampered, "vault head", "not named")
	})
	t.Run("replayed old-epoch record after the sweep", func(t *testing.T) {
		f := newHostileFixture(t, st)
		old := get(t, st, f.rA)
		_, err := f.v.Revoke(ctx, "bob")
		must(t, err)
		s, _ := f.v.current()
		newA := recordKey(f.v.id, recordID(s.cur.naming, "a"))
		if newA == f.rA {
			t.Fatal("the record id did not change with the epoch")
		}
		// Under its old id it is ignored: readers look up the new id, and
		// List skips what is below the minimum epoch.
		tamper(t, st, f.rA, old)
		if got, err := f.v.Get(ctx, "a"); err != nil || string(got) != "value-a" {
			t.Fatalf("get after the replay: %q %v", got, err)
		}
		if names, err := f.v.List(ctx); err != nil || !slices.Equal(names, []string{"a", "b"}) {
			t.Fatalf("list after the replay: %v %v", names, err)
		}
		// Under the new id it is refused.
		tamper(t, st, newA, old)
		_, err = f.v.Get(ctx, "a")
		wantErr(t, err, ErrTampered, "credential record", newA)
		// The next sweep removes both and reports them.
		rep, err := f.v.Rotate(ctx)
		must(t, err)
		var keys []string
		for _, d := range rep.Discarded {
			keys = append(keys, d.Key)
		}
		sort.Strings(keys)
		want := []string{f.rA, newA}
		sort.Strings(want)
		if !slices.Equal(keys, want) {
			t.Fatalf("discarded %v, want %v", rep.Discarded, want)
		}
	})
	t.Run("missing head log entry", func(t *testing.T) {
		f := newHostileFixture(t, st)
		tamperDelete(t, st, logKey(f.v.id, 0))
		_, err := f.bobFresh(t)
		wantErr(t, err, ErrRollback, "vault head", logKey(f.v.id, 0))
	})
}

// forgeCommit writes next as the successor of s's head, signed by signer,
// as a colluding backend would.
func forgeCommit(t *testing.T, st sdk.Store, s *session, next *wire.Head, signer *Identity) {
	t.Helper()
	next.Seq, next.Prev, next.Signer = s.head.h.Seq+1, s.head.hash, signer.rcpt.id
	ids := make([][wire.IDLen]byte, len(next.Members))
	meta := copyMeta(s.meta)
	for i, m := range next.Members {
		ids[i] = m.ID
		if meta.Names[m.ID] == "" {
			meta.Names[m.ID] = fmt.Sprintf("m%d", i)
		}
	}
	next.Meta = sealMeta(s.cur, next.Vault, next.Seq, meta.Marshal(ids))
	next.Signature = ed25519.Sign(signer.sign, next.SignatureMessage())
	raw := next.Marshal()
	tamper(t, st, logKey(next.Vault, s.head.h.Seq), s.head.raw)
	tamper(t, st, logKey(next.Vault, next.Seq), raw)
	tamper(t, st, headKey(next.Vault), raw)
}

// TestCorruptBlobs truncates and flips bits in one blob of every kind and
// checks that each read fails with an error naming the kind and key, wrapping
// ErrTampered or ErrRollback, without panicking or returning plaintext.
func TestCorruptBlobs(t *testing.T) { overStores(t, scenarioCorrupt) }

func scenarioCorrupt(t *testing.T, st sdk.Store) {
	ctx := context.Background()
	f := newHostileFixture(t, st)
	ebPin := t.TempDir()
	// Make sure the head log is complete for hosts without a pin.
	must(t, errOf(f.v.Rotate(ctx)))
	s, _ := f.v.current()
	f.slotBob = slotKey(f.v.id, s.head.h.Epoch, s.head.h.Commitment, f.bob.rcpt.id)
	f.rA = recordKey(f.v.id, recordID(s.cur.naming, "a")) // the naming key rotated

	type target struct {
		kind, key string
		read      func() error
	}
	targets := []target{
		{"credential record", f.rA, func() error {
			got, err := f.v.Get(ctx, "a")
			if err == nil && string(got) != "value-a" {
				return fmt.Errorf("garbage plaintext %q", got)
			}
			return err
		}},
		{"vault head", headKey(f.v.id), func() error {
			_, err := newEngine(t, st, nil).Unlock(ctx, f.v.name, f.bob)
			return err
		}},
		{"vault head", logKey(f.v.id, 1), func() error {
			_, err := newEngine(t, st, nil).Unlock(ctx, f.v.name, f.bob)
			return err
		}},
		{"key slot", f.slotBob, func() error {
			_, err := newEngine(t, st, &Options{StateDir: ebPin}).Unlock(ctx, f.v.name, f.bob)
			return err
		}},
		{"index entry", f.idxBob, func() error {
			_, err := newEngine(t, st, &Options{StateDir: ebPin}).Unlock(ctx, f.v.name, f.bob)
			return err
		}},
	}
	points := 0
	for _, tg := range targets {
		orig := get(t, st, tg.key)
		var variants [][]byte
		for _, n := range []int{0, 1, 4, 5, len(orig) / 2, len(orig) - 17, len(orig) - 1} {
			if n >= 0 && n < len(orig) {
				variants = append(variants, append([]byte(nil), orig[:n]...))
			}
		}
		variants = append(variants, append(append([]byte(nil), orig...), 0))
		stride := 1
		if len(orig) > 200 {
			stride = len(orig) / 150
		}
		for i := 0; i < len(orig); i += stride {
			b := append([]byte(nil), orig...)
			b[i] ^= 1 << (i % 8)
			variants = append(variants, b)
		}
		for i, b := range variants {
			put(t, st, tg.key, b)
			err := tg.read()
			if err == nil {
				t.Fatalf("%s %s variant %d (len %d of %d): read succeeded", tg.kind, tg.key, i, len(b), len(orig))
			}
			if !errors.Is(err, ErrTampered) && !errors.Is(err, ErrRollback) {
				t.Fatalf("%s variant %d: %v does not wrap ErrTampered or ErrRollback", tg.kind, i, err)
			}
			if !strings.Contains(err.Error(), tg.kind) || !strings.Contains(err.Error(), tg.key) {
				// A flipped head log entry may surface as the head's own
				// chain error; it must still name a vault head.
				if !(tg.kind == "vault head" && strings.Contains(err.Error(), "vault head")) {
					t.Fatalf("%s variant %d: error %q does not name %s %s", tg.kind, i, err, tg.kind, tg.key)
				}
			}
			points++
		}
		put(t, st, tg.key, orig)
		must(t, tg.read())
	}
	t.Logf("%d corrupted blobs refused", points)

	t.Run("pin file", func(t *testing.T) {
		dir := t.TempDir()
		e := newEngine(t, st, &Options{StateDir: dir})
		_, err := e.Unlock(ctx, f.v.name, f.bob)
		must(t, err)
		path := filepath.Join(dir, "pins", f.v.ID())
		orig, err := os.ReadFile(path)
		must(t, err)
		for _, b := range [][]byte{orig[:10], orig[:len(orig)-1], flip(orig, 30), flip(orig, len(orig)-5)} {
			must(t, os.WriteFile(path, b, 0o600))
			_, err := newEngine(t, st, &Options{StateDir: dir}).Unlock(ctx, f.v.name, f.bob)
			wantErr(t, err, ErrTampered, "rollback pin")
		}
	})
	t.Run("identity file", func(t *testing.T) {
		for _, pass := range [][]byte{nil, []byte("pw")} {
			data, err := MarshalIdentity(f.bob, pass, &KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
			must(t, err)
			for i := 0; i < len(data); i += 7 {
				_, err := ParseIdentity(flip(data, i), func() ([]byte, error) { return []byte("pw"), nil })
				if err == nil {
					t.Fatalf("flipped identity file (byte %d) parsed", i)
				}
				if !errors.Is(err, ErrTampered) && !errors.Is(err, ErrWrongPassphrase) && !strings.Contains(err.Error(), "KDF") {
					t.Fatalf("flipped identity file (byte %d): %v", i, err)
				}
			}
			for n := 0; n < len(data); n += 11 {
				if _, err := ParseIdentity(data[:n], nil); !errors.Is(err, ErrTampered) {
					t.Fatalf("truncated identity file (%d bytes): %v", n, err)
				}
			}
		}
	})
	_ = bytes.Equal
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x40
	return c
}

// tamper writes val under key as a hostile backend would, and restores the
// previous state when the test ends (later subtests share the store).
func tamper(t *testing.T, st sdk.Store, key string, val []byte) {
	t.Helper()
	restoreLater(t, st, key)
	put(t, st, key, val)
}

func tamperDelete(t *testing.T, st sdk.Store, key string) {
	t.Helper()
	restoreLater(t, st, key)
	must(t, st.Delete(context.Background(), key, sdk.None))
}

func restoreLater(t *testing.T, st sdk.Store, key string) {
	old, _, err := st.Get(context.Background(), key)
	if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if old == nil {
			st.Delete(context.Background(), key, sdk.None)
		} else {
			st.Put(context.Background(), key, old, sdk.None)
		}
	})
}
