package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
)

// The batch checks call sdk.WriteBatch, which is the store's own WriteBatch
// when it is an sdk.Batcher (every plugin through the SDK's client) and the
// SDK's emulation otherwise.

// batch calls sdk.WriteBatch on s and, when it succeeds, checks the shape of
// the results: one per write, a version exactly for each successful put.
func (e *env) batch(s sdk.Store, guard *sdk.Guard, writes []sdk.Write) ([]sdk.WriteResult, error) {
	res, err := sdk.WriteBatch(e.ctx, s, guard, writes)
	if err != nil {
		if res != nil {
			return nil, fmt.Errorf("WriteBatch returned %d results with the error %w", len(res), err)
		}
		return nil, err
	}
	if len(res) != len(writes) {
		return nil, fmt.Errorf("WriteBatch returned %d results for %d writes", len(res), len(writes))
	}
	for i, r := range res {
		w := writes[i]
		switch {
		case r.Err == nil && w.Kind == sdk.WritePut && r.Version == "":
			return nil, fmt.Errorf("WriteBatch write %d (put %q) succeeded with an empty version", i, w.Key)
		case r.Err != nil && r.Version != "":
			return nil, fmt.Errorf("WriteBatch write %d (%s %q) failed (%v) but has version %q", i, w.Kind, w.Key, r.Err, r.Version)
		case r.Err != nil && !strings.Contains(r.Err.Error(), w.Key):
			return nil, fmt.Errorf("WriteBatch write %d (%s %q): error %q does not name the key", i, w.Kind, w.Key, r.Err)
		}
	}
	return res, nil
}

func (e *env) mustBatch(guard *sdk.Guard, writes []sdk.Write) []sdk.WriteResult {
	res, err := e.batch(e.s, guard, writes)
	if err != nil {
		e.fatalf("WriteBatch of %d writes: %v", len(writes), err)
	}
	return res
}

func atomicGuard(s sdk.Store) bool {
	cr, ok := s.(sdk.CapabilityReporter)
	return ok && cr.Capabilities().AtomicGuard
}

// checkBatchOutcomes: one batch mixing every outcome of put and delete, each
// reported as Put or Delete alone would, and each applied or not on its own.
func checkBatchOutcomes(e *env) {
	head := e.mustPut("batch/head", []byte("head"), sdk.None)
	old := e.mustPut("batch/r/stale", []byte("stale"), sdk.None)
	cur := e.mustPut("batch/r/stale", []byte("current"), sdk.None)
	taken := e.mustPut("batch/r/taken", []byte("taken"), sdk.None)
	doomed := e.mustPut("batch/r/doomed", []byte("doomed"), sdk.None)
	keptOld := e.mustPut("batch/r/kept", []byte("kept"), sdk.None)
	kept := e.mustPut("batch/r/kept", []byte("kept"), sdk.None)
	over := e.mustPut("batch/r/over", []byte("over"), sdk.None)
	gone := e.mustPut("batch/r/gone", []byte("gone"), sdk.None)
	e.mustDelete("batch/r/gone", sdk.None)

	type item struct {
		w    sdk.Write
		want error
	}
	items := []item{
		{sdk.Write{Kind: sdk.WritePut, Key: "batch/r/new", Value: []byte("new"), Cond: sdk.IfAbsent()}, nil},
		{sdk.Write{Kind: sdk.WritePut, Key: "batch/r/taken", Value: []byte("clobber"), Cond: sdk.IfAbsent()}, sdk.ErrConflict},
		{sdk.Write{Kind: sdk.WritePut, Key: "batch/r/stale", Value: []byte("clobber"), Cond: sdk.IfVersion(old)}, sdk.ErrConflict},
		{sdk.Write{Kind: sdk.WritePut, Key: "batch/r/over", Value: []byte("replaced"), Cond: sdk.IfVersion(over)}, nil},
		{sdk.Write{Kind: sdk.WritePut, Key: "batch/r/gone", Value: []byte("clobber"), Cond: sdk.IfVersion(gone)}, sdk.ErrNotFound},
		{sdk.Write{Kind: sdk.WritePut, Key: "batch/r/plain", Value: []byte{}, Cond: sdk.None}, nil},
		{sdk.Write{Kind: sdk.WriteDelete, Key: "batch/r/doomed", Cond: sdk.IfVersion(doomed)}, nil},
		{sdk.Write{Kind: sdk.WriteDelete, Key: "batch/r/kept", Cond: sdk.IfVersion(keptOld)}, sdk.ErrConflict},
		{sdk.Write{Kind: sdk.WriteDelete, Key: "batch/r/never", Cond: sdk.IfVersion(kept)}, sdk.ErrNotFound},
		{sdk.Write{Kind: sdk.WriteDelete, Key: "batch/r/absent", Cond: sdk.None}, nil},
	}
	writes := make([]sdk.Write, len(items))
	for i, it := range items {
		writes[i] = it.w
	}
	for _, guard := range []*sdk.Guard{nil, {Key: "batch/head", Version: head}} {
		res := e.mustBatch(guard, writes)
		for i, it := range items {
			what := fmt.Sprintf("WriteBatch (guard %v) write %d: %s %q (%v)", guard != nil, i, it.w.Kind, it.w.Key, it.w.Cond)
			if it.want == nil {
				if res[i].Err != nil {
					e.fatalf("%s: %v, want success", what, res[i].Err)
				}
				continue
			}
			e.wantKind(res[i].Err, it.want, what)
		}
		e.wantValue("batch/r/new", []byte("new"), res[0].Version)
		e.wantValue("batch/r/taken", []byte("taken"), taken)
		e.wantValue("batch/r/stale", []byte("current"), cur)
		e.wantValue("batch/r/over", []byte("replaced"), res[3].Version)
		e.wantMissing("batch/r/gone")
		e.wantValue("batch/r/plain", []byte{}, res[5].Version)
		e.wantMissing("batch/r/doomed")
		e.wantValue("batch/r/kept", []byte("kept"), kept)
		e.wantMissing("batch/r/never")
		e.wantMissing("batch/r/absent")
		if res[3].Version == over || res[0].Version == res[3].Version {
			e.fatalf("WriteBatch returned a reused version %q", res[3].Version)
		}
		// Reset what the first round changed, for the guarded round.
		e.mustDelete("batch/r/new", sdk.None)
		over = e.mustPut("batch/r/over", []byte("over"), sdk.None)
		items[3].w.Cond = sdk.IfVersion(over)
		writes[3] = items[3].w
		doomed = e.mustPut("batch/r/doomed", []byte("doomed"), sdk.None)
		items[6].w.Cond = sdk.IfVersion(doomed)
		writes[6] = items[6].w
	}
	e.logf("%d writes with every outcome, with and without a guard", len(writes))
}

// checkBatchGuardMismatch: a guard at another version, or missing, fails the
// whole batch with ErrConflict naming the guard key, and applies nothing.
func checkBatchGuardMismatch(e *env) {
	v1 := e.mustPut("guard/head", []byte("one"), sdk.None)
	v2 := e.mustPut("guard/head", []byte("two"), sdk.None)
	keep := e.mustPut("guard/r/keep", []byte("keep"), sdk.None)
	writes := []sdk.Write{
		{Kind: sdk.WritePut, Key: "guard/r/new", Value: []byte("x"), Cond: sdk.None},
		{Kind: sdk.WritePut, Key: "guard/r/keep", Value: []byte("x"), Cond: sdk.IfVersion(keep)},
		{Kind: sdk.WriteDelete, Key: "guard/r/keep2", Cond: sdk.None},
	}
	keep2 := e.mustPut("guard/r/keep2", []byte("keep2"), sdk.None)
	for _, g := range []sdk.Guard{
		{Key: "guard/head", Version: v1},                // stale
		{Key: "guard/head", Version: "no-such-version"}, // never issued
		{Key: "guard/missing", Version: v2},             // missing key
	} {
		res, err := sdk.WriteBatch(e.ctx, e.s, &g, writes)
		what := fmt.Sprintf("WriteBatch guarded by %q at %q", g.Key, g.Version)
		e.wantKind(err, sdk.ErrConflict, what)
		if !strings.Contains(err.Error(), g.Key) {
			e.fatalf("%s: error %q does not name the guard key", what, err)
		}
		if res != nil {
			e.fatalf("%s: %d results with the guard's error, want none", what, len(res))
		}
		e.wantMissing("guard/r/new")
		e.wantValue("guard/r/keep", []byte("keep"), keep)
		e.wantValue("guard/r/keep2", []byte("keep2"), keep2)
		e.wantValue("guard/head", []byte("two"), v2)
	}
	// The current version lets it through.
	res := e.mustBatch(&sdk.Guard{Key: "guard/head", Version: v2}, writes)
	for i, r := range res {
		if r.Err != nil {
			e.fatalf("WriteBatch under the current guard: write %d: %v", i, r.Err)
		}
	}
	e.wantValue("guard/r/new", []byte("x"), res[0].Version)
	e.wantMissing("guard/r/keep2")
}

// checkBatchLimits: batches outside the contract's limits fail with
// ErrInvalidArgument and apply nothing; batches at the limits work.
func checkBatchLimits(e *env) {
	maxV := e.maxValue()
	perBatch := sdk.MaxBatchBytes / maxV
	if perBatch > sdk.MaxBatchWrites {
		perBatch = sdk.MaxBatchWrites
	}
	big := bytes.Repeat([]byte{0x5a}, maxV)
	head := e.mustPut("limits/head", []byte("h"), sdk.None)
	var many, heavy []sdk.Write
	for i := 0; i <= sdk.MaxBatchWrites; i++ {
		many = append(many, sdk.Write{Kind: sdk.WritePut, Key: fmt.Sprintf("limits/many/%04d", i), Value: []byte("x")})
	}
	for i := 0; i*maxV <= sdk.MaxBatchBytes; i++ {
		heavy = append(heavy, sdk.Write{Kind: sdk.WritePut, Key: fmt.Sprintf("limits/heavy/%04d", i), Value: big})
	}
	one := sdk.Write{Kind: sdk.WritePut, Key: "limits/one", Value: []byte("1")}
	cases := []struct {
		name   string
		guard  *sdk.Guard
		writes []sdk.Write
	}{
		{"no writes", nil, nil},
		{fmt.Sprintf("%d writes (over MaxBatchWrites)", len(many)), nil, many},
		{fmt.Sprintf("%d values of %d bytes (over MaxBatchBytes)", len(heavy), maxV), nil, heavy},
		{"a key twice", nil, []sdk.Write{one, {Kind: sdk.WriteDelete, Key: "limits/two"}, one}},
		{"the guard key among the writes", &sdk.Guard{Key: "limits/head", Version: head}, []sdk.Write{one, {Kind: sdk.WritePut, Key: "limits/head", Value: []byte("x")}}},
		{"an invalid key", nil, []sdk.Write{one, {Kind: sdk.WritePut, Key: "limits//bad", Value: []byte("x")}}},
		{"a value over the maximum", nil, []sdk.Write{one, {Kind: sdk.WritePut, Key: "limits/over", Value: append(big, 0)}}},
		{"a delete with if-absent", nil, []sdk.Write{one, {Kind: sdk.WriteDelete, Key: "limits/two", Cond: sdk.IfAbsent()}}},
		{"an unknown kind", nil, []sdk.Write{one, {Kind: 77, Key: "limits/two"}}},
	}
	for _, c := range cases {
		_, err := sdk.WriteBatch(e.ctx, e.s, c.guard, c.writes)
		e.wantKind(err, sdk.ErrInvalidArgument, "WriteBatch with "+c.name)
	}
	for _, k := range []string{"limits/one", "limits/many/0000", "limits/heavy/0000", "limits/over"} {
		e.wantMissing(k)
	}
	e.wantValue("limits/head", []byte("h"), head)
	// At the limits: MaxBatchWrites writes (deletes of absent keys, which
	// cost a slow store least), and values adding up to MaxBatchBytes (as many
	// maximum-size values as fit), then a batch deleting those.
	var absent []sdk.Write
	for i := 0; i < sdk.MaxBatchWrites; i++ {
		absent = append(absent, sdk.Write{Kind: sdk.WriteDelete, Key: fmt.Sprintf("limits/absent/%04d", i)})
	}
	res := e.mustBatch(nil, absent)
	for i, r := range res {
		if r.Err != nil {
			e.fatalf("WriteBatch of MaxBatchWrites unconditional deletes of absent keys: write %d: %v", i, r.Err)
		}
	}
	res = e.mustBatch(&sdk.Guard{Key: "limits/head", Version: head}, heavy[:perBatch])
	for i, r := range res {
		if r.Err != nil {
			e.fatalf("WriteBatch of %d maximum-size values: write %d: %v", perBatch, i, r.Err)
		}
	}
	e.wantValue(heavy[perBatch-1].Key, big, res[perBatch-1].Version)
	var dels []sdk.Write
	for i, w := range heavy[:perBatch] {
		dels = append(dels, sdk.Write{Kind: sdk.WriteDelete, Key: w.Key, Cond: sdk.IfVersion(res[i].Version)})
	}
	for i, r := range e.mustBatch(nil, dels) {
		if r.Err != nil {
			e.fatalf("WriteBatch deleting the %d maximum-size values: write %d: %v", perBatch, i, r.Err)
		}
	}
	if got := e.listAll(e.s, "limits/heavy/", 0, false); len(got) != 0 {
		e.fatalf("after a batch deleting %d keys, %d are still listed", len(dels), len(got))
	}
	e.logf("limits refused: %d cases; accepted %d writes and %d values of %d bytes", len(cases), sdk.MaxBatchWrites, perBatch, maxV)
}

// Atomic guard bounds.
const (
	atomicRounds    = 6
	atomicBatchers  = 4
	atomicItems     = 48
	atomicTime      = 20 * time.Second
	atomicRoundTime = 15 * time.Second
)

// checkBatchAtomicGuard races batches guarded by one key against a
// compare-and-swap of that key. For every store, a batch started after the
// swap returned must fail with ErrConflict. For a store that claims
// AtomicGuard, no item may change after the swap returned: right after the
// swap the check snapshots the items (one List with values), and once the
// batches have stopped the items must still be exactly that snapshot. A store
// that checks the guard once and then writes (the SDK's emulation) lets
// batches in flight land after the swap, and fails.
func checkBatchAtomicGuard(e *env) {
	claims := atomicGuard(e.s)
	clients := e.clients(atomicBatchers + 1)
	deadline := time.Now().Add(atomicTime)
	late := 0
	for round := 0; round < atomicRounds && time.Now().Before(deadline); round++ {
		guardKey := fmt.Sprintf("atomic/%d/head", round)
		prefix := fmt.Sprintf("atomic/%d/r/", round)
		head := e.mustPut(guardKey, []byte("before"), sdk.IfAbsent())
		var moved atomic.Bool
		var applied atomic.Int64
		firstApplied := make(chan struct{})
		var once sync.Once
		errs := make(chan error, atomicBatchers+1)
		var wg sync.WaitGroup
		for b := 0; b < atomicBatchers; b++ {
			wg.Add(1)
			go func(b int) {
				defer wg.Done()
				s := clients[1+b]
				stop := time.Now().Add(atomicRoundTime)
				for it := 0; time.Now().Before(stop) && e.ctx.Err() == nil; it++ {
					writes := make([]sdk.Write, atomicItems)
					for i := range writes {
						writes[i] = sdk.Write{Kind: sdk.WritePut, Key: fmt.Sprintf("%s%02d", prefix, i), Value: []byte(fmt.Sprintf("batcher %d iteration %d", b, it))}
					}
					after := moved.Load()
					res, err := e.batch(s, &sdk.Guard{Key: guardKey, Version: head}, writes)
					if errors.Is(err, sdk.ErrConflict) && sdk.Kind(err) == sdk.ErrConflict {
						return // the guard moved: done
					}
					if err != nil {
						errs <- fmt.Errorf("round %d batcher %d: %v", round, b, err)
						return
					}
					if after {
						errs <- fmt.Errorf("round %d batcher %d: a batch started after the guard %q moved succeeded", round, b, guardKey)
						return
					}
					for i, r := range res {
						if r.Err != nil {
							errs <- fmt.Errorf("round %d batcher %d: write %d: %v", round, b, i, r.Err)
							return
						}
					}
					applied.Add(1)
					once.Do(func() { close(firstApplied) })
				}
				errs <- fmt.Errorf("round %d batcher %d: the guard never moved in %v", round, b, atomicRoundTime)
			}(b)
		}
		var snapshot []sdk.Entry
		var snapErr error
		select {
		case <-firstApplied:
		case <-time.After(10 * time.Second):
		}
		_, err := clients[0].Put(e.ctx, guardKey, []byte("after"), sdk.IfVersion(head))
		if err == nil {
			moved.Store(true)
			snapshot, snapErr = listValues(e, clients[0], prefix)
		}
		wg.Wait()
		close(errs)
		if err != nil {
			e.fatalf("round %d: compare-and-swap of the guard %q: %v", round, guardKey, err)
		}
		for err := range errs {
			e.fatalf("%v", err)
		}
		if snapErr != nil {
			e.fatalf("round %d: listing the items after the swap: %v", round, snapErr)
		}
		final, err := listValues(e, e.s, prefix)
		if err != nil {
			e.fatalf("round %d: listing the items at the end: %v", round, err)
		}
		changed := diffEntries(snapshot, final)
		late += len(changed)
		if claims && len(changed) > 0 {
			e.fatalf("round %d: the store claims AtomicGuard, but %d items changed after the guard %q moved (e.g. %s); %d batches applied before the move",
				round, len(changed), guardKey, changed[0], applied.Load())
		}
	}
	if claims {
		e.logf("%d rounds of %d batchers against a guard swap: no item applied after the swap", atomicRounds, atomicBatchers)
	} else {
		e.logf("store does not claim AtomicGuard: checked only that batches started after the swap fail (%d items landed after a swap, which the contract allows without AtomicGuard)", late)
	}
}

func listValues(e *env, s sdk.Store, prefix string) ([]sdk.Entry, error) {
	var all []sdk.Entry
	opts := sdk.ListOptions{Prefix: prefix, WithValues: true, Limit: sdk.MaxListLimit}
	for {
		p, err := s.List(e.ctx, opts)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Entries...)
		if !p.More || len(p.Entries) == 0 {
			return all, nil
		}
		opts.StartAfter = p.Entries[len(p.Entries)-1].Key
	}
}

// diffEntries describes the keys whose version or value differs.
func diffEntries(a, b []sdk.Entry) []string {
	m := map[string]sdk.Entry{}
	for _, en := range a {
		m[en.Key] = en
	}
	var out []string
	for _, en := range b {
		old, ok := m[en.Key]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%q appeared", en.Key))
		case old.Version != en.Version || !bytes.Equal(old.Value, en.Value):
			out = append(out, fmt.Sprintf("%q went from %q to %q", en.Key, old.Value, en.Value))
		}
		delete(m, en.Key)
	}
	for k := range m {
		out = append(out, fmt.Sprintf("%q vanished", k))
	}
	return out
}
