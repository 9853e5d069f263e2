package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/core/internal/faultstore"
	"github.com/ALRubinger/aileron-store/sdk"
)

// faultOp is one step of the crash script.
type faultOp struct {
	kind  string // create, put, delete, grant, revoke, rotate
	name  string // credential or member name
	value string
}

var faultScript = []faultOp{
	{kind: "create"},
	{kind: "put", name: "a", value: "a1"},
	{kind: "put", name: "b", value: "b1"},
	{kind: "grant", name: "bob"},
	{kind: "grant", name: "carol"},
	{kind: "put", name: "c", value: "c1"},
	{kind: "put", name: "a", value: "a2"},
	{kind: "revoke", name: "bob"},
	{kind: "put", name: "b", value: "b2"},
	{kind: "delete", name: "c"},
	{kind: "rotate"},
	{kind: "put", name: "d", value: "d1"},
	{kind: "delete", name: "a"},
	{kind: "put", name: "a", value: "a3"},
}

const faultVault = "crash-vault"

// faultRun is one run of the script with one injected crash.
type faultRun struct {
	t     *testing.T
	base  sdk.Store
	fs    *faultstore.Store
	dirs  map[string]string // state dir per identity (survives "restarts")
	alice *Vault
	// model: the values a name may hold; "" means absent. A name has one
	// allowed value once a write of it was acknowledged, two while the last
	// write of it failed (it may or may not have taken effect).
	model    map[string][]string
	bobKeys  []*epochKey
	bobVault *Vault
	tripped  bool
}

func TestCrashRecovery(t *testing.T) {
	for _, name := range crashFactories {
		f := storeFactories[name]
		t.Run(name, func(t *testing.T) {
			scenarioCrash(t, func() sdk.Store {
				st := f(t)
				t.Cleanup(func() { st.Close() })
				return st
			})
		})
	}
}

// scenarioCrash runs the script once without faults to count its mutating
// calls, then once per (k, mode): crash at the k-th mutation, restart,
// recover, finish the script, and check the invariants.
func scenarioCrash(t *testing.T, newStore func() sdk.Store) {
	clean := runScript(t, newStore(), 0, faultstore.Before)
	n := clean.fs.Count()
	if n < 20 {
		t.Fatalf("the script made only %d mutating calls", n)
	}
	points := 0
	for _, mode := range []faultstore.Mode{faultstore.Before, faultstore.After} {
		for k := 1; k <= n; k++ {
			r := runScript(t, newStore(), k, mode)
			if !r.tripped {
				t.Fatalf("fault %d/%s never fired", k, mode)
			}
			points++
		}
	}
	t.Logf("crash points exercised: %d (%d mutating calls x 2 modes)", points, n)
}

func runScript(t *testing.T, base sdk.Store, k int, mode faultstore.Mode) *faultRun {
	t.Helper()
	r := &faultRun{t: t, base: base, fs: faultstore.New(base), model: map[string][]string{},
		dirs: map[string]string{"alice": stateDir(t), "bob": stateDir(t), "carol": stateDir(t)}}
	r.fs.Arm(k, mode)
	if k == 0 {
		r.fs.Disarm()
	}
	ctx := context.Background()
	for i, op := range faultScript {
		err := r.do(ctx, op)
		if err == nil {
			continue
		}
		if !r.fs.Tripped() {
			t.Fatalf("k=%d %s: step %d %s %s failed without an injected fault: %v", k, mode, i, op.kind, op.name, err)
		}
		if !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("k=%d %s: step %d: injected fault surfaced as %v", k, mode, i, err)
		}
		r.tripped = true
		r.fs.Disarm()
		r.recover(ctx, op)
	}
	if r.fs.Tripped() {
		// The fault hit a best-effort write (head log append) of the last
		// step, which still succeeded.
		r.tripped = true
	}
	r.fs.Disarm()
	r.check(ctx, fmt.Sprintf("k=%d %s", k, mode))
	return r
}

func (r *faultRun) engine(who string) *Engine {
	e, err := New(r.fs, &Options{StateDir: r.dirs[who], Concurrency: 3})
	if err != nil {
		r.t.Fatal(err)
	}
	return e
}

// do runs one step with the current (possibly crashed) handles.
func (r *faultRun) do(ctx context.Context, op faultOp) error {
	if r.alice == nil && op.kind != "create" {
		return fmt.Errorf("no vault: %w", sdk.ErrUnavailable)
	}
	if r.fs.Tripped() {
		// The process died: the next step runs in a restarted one.
		if err := r.restartAndDo(ctx, op); err != nil {
			return err
		}
	} else if err := r.apply(ctx, op); err != nil {
		return err
	}
	if r.fs.Tripped() {
		// The fault hit a best-effort write (head log append) and the step
		// still succeeded; the process dies right after.
		r.fs.Disarm()
		r.tripped = true
		r.reopen(ctx)
	}
	r.afterAck(ctx, op)
	return nil
}

// afterAck runs harness steps after an acknowledged op.
func (r *faultRun) afterAck(ctx context.Context, op faultOp) {
	if op.kind == "grant" && op.name == "bob" {
		vb, err := r.engine("bob").Unlock(ctx, faultVault, testIdentity(r.t, "bob"))
		if err != nil {
			r.t.Fatalf("bob unlock after grant: %v", err)
		}
		r.bobVault = vb
	}
}

func (r *faultRun) restartAndDo(ctx context.Context, op faultOp) error {
	r.fs.Disarm()
	r.tripped = true
	r.reopen(ctx)
	return r.apply(ctx, op)
}

func (r *faultRun) apply(ctx context.Context, op faultOp) error {
	switch op.kind {
	case "create":
		v, err := r.engine("alice").CreateVault(ctx, faultVault, testIdentity(r.t, "alice"), "alice")
		if err == nil {
			r.alice = v
		}
		return err
	case "put":
		prev := r.model[op.name]
		if prev == nil {
			prev = []string{""}
		}
		r.model[op.name] = append(slices.Clone(prev), op.value)
		if err := r.alice.Put(ctx, op.name, []byte(op.value)); err != nil {
			return err
		}
		r.model[op.name] = []string{op.value}
	case "delete":
		prev := r.model[op.name]
		if prev == nil {
			prev = []string{""}
		}
		r.model[op.name] = append(slices.Clone(prev), "")
		err := r.alice.Delete(ctx, op.name)
		if errors.Is(err, ErrCredentialNotFound) && slices.Contains(prev, "") {
			err = nil // an earlier unacknowledged put did not take effect
		}
		if err != nil {
			return err
		}
		r.model[op.name] = []string{""}
	case "grant":
		role := RoleMember
		if op.name == "carol" {
			role = RoleAdmin
		}
		return r.alice.Grant(ctx, testIdentity(r.t, op.name).Recipient(), op.name, role, classicalOK)
	case "revoke":
		if r.bobVault != nil {
			if _, err := r.bobVault.Members(ctx); err == nil {
				r.bobKeys = append(r.bobKeys, heldKeys(r.bobVault)...)
			}
		}
		_, err := r.alice.Revoke(ctx, op.name)
		return err
	case "rotate":
		return errOf(r.alice.Rotate(ctx))
	}
	return nil
}

// reopen simulates a restart: fresh engines over the same state dirs.
func (r *faultRun) reopen(ctx context.Context) {
	if r.alice == nil {
		return
	}
	v, err := r.engine("alice").Unlock(ctx, faultVault, testIdentity(r.t, "alice"))
	if err != nil {
		r.t.Fatalf("alice unlock after restart: %v", err)
	}
	r.alice = v
}

// recover restarts after a crash in op, resumes any pending rotation and
// redoes op if it did not take effect (what an operator would do).
func (r *faultRun) recover(ctx context.Context, op faultOp) {
	t := r.t
	alice := testIdentity(t, "alice")
	if op.kind == "create" {
		v, err := r.engine("alice").Unlock(ctx, faultVault, alice)
		if errors.Is(err, ErrVaultNotFound) {
			v, err = r.engine("alice").CreateVault(ctx, faultVault, alice, "alice")
		}
		if err != nil {
			t.Fatalf("recovering create: %v", err)
		}
		r.alice = v
		return
	}
	r.reopen(ctx)
	if err := errOf(r.alice.Resume(ctx)); err != nil {
		t.Fatalf("resume after a crash in %s: %v", op.kind, err)
	}
	ms, err := r.alice.Members(ctx)
	if err != nil {
		t.Fatalf("members after recovery: %v", err)
	}
	has := func(n string) bool {
		return slices.ContainsFunc(ms, func(m Member) bool { return m.Name == n })
	}
	switch op.kind {
	case "grant":
		if !has(op.name) {
			if err := r.apply(ctx, op); err != nil {
				t.Fatalf("redoing grant: %v", err)
			}
		}
		r.afterAck(ctx, op)
	case "revoke":
		if has(op.name) {
			if _, err := r.alice.Revoke(ctx, op.name); err != nil {
				t.Fatalf("redoing revoke: %v", err)
			}
		}
	case "rotate":
		// Either the rotation committed (and Resume finished it) or it
		// left only unreferenced slots; both are fine, run it again.
		if err := errOf(r.alice.Rotate(ctx)); err != nil {
			t.Fatalf("redoing rotate: %v", err)
		}
	}
	// put/delete: not retried; the model allows both outcomes.
}

// check verifies the invariants after the script.
func (r *faultRun) check(ctx context.Context, label string) {
	t := r.t
	if err := errOf(r.alice.Resume(ctx)); err != nil {
		t.Fatalf("%s: final resume: %v", label, err)
	}
	if p, err := r.alice.Pending(ctx); err != nil || p {
		t.Fatalf("%s: pending %v %v", label, p, err)
	}
	for _, who := range []string{"alice", "carol"} {
		// A fresh host without a pin, and the host with its pin.
		for _, e := range []*Engine{mustEngine(t, r.base, ""), mustEngine(t, r.base, r.dirs[who])} {
			v, err := e.Unlock(ctx, faultVault, testIdentity(t, who))
			if err != nil {
				t.Fatalf("%s: %s unlock: %v", label, who, err)
			}
			var want []string
			for name, allowed := range r.model {
				got, err := v.Get(ctx, name)
				val := string(got)
				if errors.Is(err, ErrCredentialNotFound) {
					val = ""
				} else if err != nil {
					t.Fatalf("%s: %s get %s: %v", label, who, name, err)
				}
				if !slices.Contains(allowed, val) {
					t.Fatalf("%s: %s reads %s = %q, allowed %q", label, who, name, val, allowed)
				}
				if val != "" {
					want = append(want, name)
				}
			}
			sort.Strings(want)
			names, err := v.List(ctx)
			if err != nil || !slices.Equal(names, want) {
				t.Fatalf("%s: %s lists %v (%v), want %v", label, who, names, err, want)
			}
		}
	}
	// The revoked member: no access with its identity, nothing decrypts
	// under the keys it held, no slot opens for it.
	bob := testIdentity(t, "bob")
	if _, err := mustEngine(t, r.base, r.dirs["bob"]).Unlock(ctx, faultVault, bob); !errors.Is(err, ErrNotMember) {
		t.Fatalf("%s: revoked bob unlock: %v", label, err)
	}
	if r.bobVault != nil {
		for name := range r.model {
			if got, err := r.bobVault.Get(ctx, name); err == nil {
				t.Fatalf("%s: revoked bob's open handle still reads %s = %q", label, name, got)
			}
		}
	}
	if len(r.bobKeys) == 0 {
		t.Fatalf("%s: bob's keys were not captured", label)
	}
	assertOldKeysUseless(t, r.base, r.alice, r.bobKeys, bob)
	// Only current-epoch slots remain once nothing is pending.
	s, err := r.alice.current()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keysWith(t, r.base, slotPrefix(r.alice.id), "") {
		if !strings.Contains(key, slotDir(s.head.h.Epoch, s.head.h.Commitment)) {
			t.Fatalf("%s: stale slot %s", label, key)
		}
	}
}

func mustEngine(t *testing.T, st sdk.Store, dir string) *Engine {
	e, err := New(st, &Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return e
}
