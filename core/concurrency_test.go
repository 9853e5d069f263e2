package core

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/sdk"
)

func TestConcurrentEngines(t *testing.T) { overStores(t, scenarioConcurrent) }

// scenarioConcurrent runs two engines on one store: each has a writer doing
// puts and deletes on its own keys (reading its own writes back), while the
// admins grant, revoke and rotate concurrently. At the end every key holds
// its writer's last acknowledged state (no lost update, no resurrection)
// for both engines, and nothing decrypts under the revoked member's keys.
func scenarioConcurrent(t *testing.T, st sdk.Store) {
	ctx := context.Background()
	alice, carol, dave := testIdentity(t, "alice"), testIdentity(t, "carol"), testIdentity(t, "dave")
	e1 := newEngine(t, st, &Options{StateDir: stateDir(t), Concurrency: 4})
	e2 := newEngine(t, st, &Options{StateDir: stateDir(t), Concurrency: 2})
	e3 := newEngine(t, st, nil)
	va, err := e1.CreateVault(ctx, "concurrent", alice, "alice")
	must(t, err)
	must(t, va.Grant(ctx, carol.Recipient(), "carol", RoleAdmin, classicalOK))
	vc, err := e2.Unlock(ctx, "concurrent", carol)
	must(t, err)
	// Some records for the sweeps to chew on.
	for i := range 30 {
		must(t, va.Put(ctx, fmt.Sprintf("bulk-%02d", i), []byte(fmt.Sprintf("bulk-value-%d", i))))
	}

	const iters = 40
	type state struct {
		val     string
		present bool
	}
	var mu sync.Mutex
	final := map[string]state{}
	for i := range 30 {
		final[fmt.Sprintf("bulk-%02d", i)] = state{fmt.Sprintf("bulk-value-%d", i), true}
	}
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	writer := func(v *Vault, prefix string, seed uint64) {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(seed, 7))
		mine := map[string]state{}
		for i := range iters {
			key := fmt.Sprintf("%s%d", prefix, rng.IntN(4))
			if rng.IntN(3) == 0 {
				err := v.Delete(ctx, key)
				if errors.Is(err, ErrCredentialNotFound) && !mine[key].present {
					err = nil
				}
				if err != nil {
					errs <- fmt.Errorf("%s delete %s: %w", prefix, key, err)
					return
				}
				mine[key] = state{}
			} else {
				val := fmt.Sprintf("%s-%d", key, i)
				if err := v.Put(ctx, key, []byte(val)); err != nil {
					errs <- fmt.Errorf("%s put %s: %w", prefix, key, err)
					return
				}
				mine[key] = state{val, true}
			}
			got, err := v.Get(ctx, key)
			want := mine[key]
			switch {
			case want.present && (err != nil || string(got) != want.val):
				errs <- fmt.Errorf("%s read-your-write %s: %q %v, want %q", prefix, key, got, err, want.val)
				return
			case !want.present && !errors.Is(err, ErrCredentialNotFound):
				errs <- fmt.Errorf("%s read after delete %s: %q %v (resurrected?)", prefix, key, got, err)
				return
			}
		}
		mu.Lock()
		for k, s := range mine {
			final[k] = s
		}
		mu.Unlock()
	}
	var daveKeys []*epochKey
	admin := func(v *Vault, grants bool) {
		defer wg.Done()
		for i := range 4 {
			var err error
			if grants {
				err = v.Grant(ctx, dave.Recipient(), "dave", RoleMember, classicalOK)
				if err == nil {
					var vd *Vault
					if vd, err = e3.Unlock(ctx, "concurrent", dave); err == nil {
						if _, err = vd.Get(ctx, "bulk-00"); err == nil {
							mu.Lock()
							daveKeys = append(daveKeys, heldKeys(vd)...)
							mu.Unlock()
						}
					}
				}
				if err == nil {
					var rep *RevokeReport
					rep, err = v.Revoke(ctx, "dave")
					if err == nil && !slices.Contains(rep.Readable, "bulk-00") && rep.Reencrypted > 0 {
						err = fmt.Errorf("revoke report misses bulk-00: %v", rep.Readable)
					}
				}
			} else {
				err = errOf(v.Rotate(ctx))
			}
			if errors.Is(err, sdk.ErrConflict) {
				continue // lost every retry to the other admin: allowed, try again
			}
			if err != nil {
				errs <- fmt.Errorf("admin round %d (grants=%v): %w", i, grants, err)
				return
			}
		}
	}
	wg.Add(4)
	go writer(va, "a", 1)
	go writer(vc, "c", 2)
	go admin(vc, true)
	go admin(va, false)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	must(t, errOf(va.Resume(ctx)))
	for _, v := range []*Vault{va, vc} {
		var want []string
		for k, s := range final {
			got, err := v.Get(ctx, k)
			if s.present {
				if err != nil || string(got) != s.val {
					t.Fatalf("%s: %q %v, want %q (lost update)", k, got, err, s.val)
				}
				want = append(want, k)
			} else if !errors.Is(err, ErrCredentialNotFound) {
				cs, _ := v.current()
				for key, val := range dump(t, st) {
					if r, err := wire.ParseRecord(val); err == nil && strings.Contains(key, "/r/") {
						t.Logf("%s epoch %d kind %d (head epoch %d min %d) cur id %x", key, r.Epoch, r.Kind, cs.head.h.Epoch, cs.head.h.MinEpoch, recordID(cs.cur.naming, k))
					}
				}
				t.Fatalf("%s: %q %v, want deleted (resurrected)", k, got, err)
			}
		}
		sort.Strings(want)
		names, err := v.List(ctx)
		if err != nil || !slices.Equal(names, want) {
			t.Fatalf("list %v %v, want %v", names, err, want)
		}
	}
	if len(daveKeys) == 0 {
		t.Fatal("dave never read")
	}
	if _, err := e3.Unlock(ctx, "concurrent", dave); !errors.Is(err, ErrNotMember) {
		t.Fatalf("dave after the last revoke: %v", err)
	}
	assertOldKeysUseless(t, st, va, daveKeys, dave)
}
