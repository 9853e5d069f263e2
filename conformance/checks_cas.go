package conformance

import (
	"errors"
	"fmt"

	"github.com/ALRubinger/aileron-store/sdk"
)

func checkCreateIfAbsent(e *env) {
	const key = "cas/create"
	v := e.mustPut(key, []byte("first"), sdk.IfAbsent())
	e.wantValue(key, []byte("first"), v)
	_, err := e.s.Put(e.ctx, key, []byte("second"), sdk.IfAbsent())
	e.wantKind(err, sdk.ErrConflict, fmt.Sprintf("second Put(%q, if-absent)", key))
	e.wantValue(key, []byte("first"), v)
}

func checkReplaceIfVersion(e *env) {
	const key = "cas/replace"
	v1 := e.mustPut(key, []byte("first"), sdk.None)
	v2 := e.mustPut(key, []byte("second"), sdk.IfVersion(v1))
	if v2 == v1 {
		e.fatalf("Put(%q, if-version(%q)) returned the same version", key, v1)
	}
	e.wantValue(key, []byte("second"), v2)
	v3 := e.mustPut(key, []byte("third"), sdk.IfVersion(v2))
	e.wantValue(key, []byte("third"), v3)
}

func checkDeleteIfVersion(e *env) {
	const key = "cas/delete"
	v := e.mustPut(key, []byte("doomed"), sdk.None)
	e.mustDelete(key, sdk.IfVersion(v))
	e.wantMissing(key)
	if got := keysOf(e.listAll(e.s, "", 0, false)); len(got) != 0 {
		e.fatalf("after Delete(%q, if-version) List returns %q, want nothing", key, got)
	}
}

func checkStaleVersion(e *env) {
	const key = "cas/stale"
	v1 := e.mustPut(key, []byte("first"), sdk.None)
	v2 := e.mustPut(key, []byte("second"), sdk.None)
	for _, stale := range []sdk.Version{v1, "no-such-version", sdk.Version(string(v2) + "0")} {
		_, err := e.s.Put(e.ctx, key, []byte("clobber"), sdk.IfVersion(stale))
		e.wantKind(err, sdk.ErrConflict, fmt.Sprintf("Put(%q, if-version(%q)) with a stale version", key, stale))
		err = e.s.Delete(e.ctx, key, sdk.IfVersion(stale))
		e.wantKind(err, sdk.ErrConflict, fmt.Sprintf("Delete(%q, if-version(%q)) with a stale version", key, stale))
		e.wantValue(key, []byte("second"), v2)
	}
}

func checkIfVersionMissing(e *env) {
	const never, gone = "cas/never-written", "cas/gone"
	_, err := e.s.Put(e.ctx, never, []byte("x"), sdk.IfVersion("some-version"))
	e.wantKind(err, sdk.ErrNotFound, fmt.Sprintf("Put(%q, if-version) of a key never written", never))
	err = e.s.Delete(e.ctx, never, sdk.IfVersion("some-version"))
	e.wantKind(err, sdk.ErrNotFound, fmt.Sprintf("Delete(%q, if-version) of a key never written", never))
	e.wantMissing(never)

	v := e.mustPut(gone, []byte("x"), sdk.None)
	e.mustDelete(gone, sdk.None)
	_, err = e.s.Put(e.ctx, gone, []byte("y"), sdk.IfVersion(v))
	e.wantKind(err, sdk.ErrNotFound, fmt.Sprintf("Put(%q, if-version) of a deleted key with its last version", gone))
	err = e.s.Delete(e.ctx, gone, sdk.IfVersion(v))
	e.wantKind(err, sdk.ErrNotFound, fmt.Sprintf("Delete(%q, if-version) of a deleted key with its last version", gone))
	e.wantMissing(gone)
}

func checkDeleteMissing(e *env) {
	const key = "cas/delete-missing"
	e.mustDelete(key, sdk.None)
	e.mustPut(key, []byte("x"), sdk.None)
	e.mustDelete(key, sdk.None)
	e.mustDelete(key, sdk.None)
	e.wantMissing(key)
}

func checkIdenticalRewrite(e *env) {
	const key = "cas/identical"
	same := []byte("identical bytes")
	v1 := e.mustPut(key, same, sdk.None)
	v2 := e.mustPut(key, same, sdk.None)
	if v1 == v2 {
		e.fatalf("rewriting identical bytes to %q returned the same version %q", key, v1)
	}
	_, err := e.s.Put(e.ctx, key, same, sdk.IfVersion(v1))
	e.wantKind(err, sdk.ErrConflict, fmt.Sprintf("Put(%q, if-version) with the version of an earlier write of the same bytes", key))
	v3 := e.mustPut(key, same, sdk.IfVersion(v2))
	if v3 == v2 || v3 == v1 {
		e.fatalf("conditional rewrite of identical bytes to %q returned an old version %q", key, v3)
	}
	err = e.s.Delete(e.ctx, key, sdk.IfVersion(v2))
	e.wantKind(err, sdk.ErrConflict, fmt.Sprintf("Delete(%q, if-version) with the version of an earlier write of the same bytes", key))
	e.wantValue(key, same, v3)
}

func checkRecreate(e *env) {
	const key = "cas/recreate"
	same := []byte("same bytes")
	v1 := e.mustPut(key, same, sdk.None)
	e.mustDelete(key, sdk.IfVersion(v1))
	v2 := e.mustPut(key, same, sdk.IfAbsent())
	if v2 == v1 {
		e.fatalf("recreating %q with identical bytes returned the version %q it had before the delete", key, v1)
	}
	_, err := e.s.Put(e.ctx, key, []byte("clobber"), sdk.IfVersion(v1))
	e.wantKind(err, sdk.ErrConflict, fmt.Sprintf("Put(%q, if-version) with the version from before delete and recreate", key))
	err = e.s.Delete(e.ctx, key, sdk.IfVersion(v1))
	e.wantKind(err, sdk.ErrConflict, fmt.Sprintf("Delete(%q, if-version) with the version from before delete and recreate", key))
	e.wantValue(key, same, v2)
}

func checkVersionsUnique(e *env) {
	const key = "cas/unique"
	seen := map[sdk.Version]int{}
	for i := 0; i < 40; i++ {
		v := e.mustPut(key, []byte("same"), sdk.None)
		if j, dup := seen[v]; dup {
			e.fatalf("write %d of identical bytes to %q returned version %q, already returned by write %d", i, key, v, j)
		}
		seen[v] = i
	}
}

// checkRace has independent clients race on one key per round, in three
// phases separated by barriers: create-if-absent, replace-if-version of the
// version all of them read, delete-if-version of the winner's version.
func checkRace(e *env) {
	n := e.h.clients()
	clients := e.clients(n)
	const rounds = 4
	for round := 0; round < rounds; round++ {
		key := fmt.Sprintf("race/round-%d", round)
		value := func(phase string, i int) []byte {
			return []byte(fmt.Sprintf("%s by client %d in round %d", phase, i, round))
		}

		// Phase 1: create-if-absent.
		vers := make([]sdk.Version, n)
		errs := parallel(n, func(i int) error {
			v, err := clients[i].Put(e.ctx, key, value("create", i), sdk.IfAbsent())
			vers[i] = v
			return err
		})
		w := oneWinner(e, errs, sdk.ErrConflict, fmt.Sprintf("round %d: %d clients Put(%q, if-absent)", round, n, key))
		e.wantValue(key, value("create", w), vers[w])
		created := vers[w]

		// Phase 2: everyone reads the same version, then all replace.
		read := make([]sdk.Version, n)
		errs = parallel(n, func(i int) error {
			_, v, err := clients[i].Get(e.ctx, key)
			read[i] = v
			return err
		})
		for i, err := range errs {
			if err != nil {
				e.fatalf("round %d: client %d Get(%q): %v", round, i, key, err)
			}
			if read[i] != created {
				e.fatalf("round %d: client %d read version %q of %q, want %q written by client %d (Get is not strongly consistent across clients)", round, i, read[i], key, created, w)
			}
		}
		errs = parallel(n, func(i int) error {
			v, err := clients[i].Put(e.ctx, key, value("replace", i), sdk.IfVersion(read[i]))
			vers[i] = v
			return err
		})
		w = oneWinner(e, errs, sdk.ErrConflict, fmt.Sprintf("round %d: %d clients Put(%q, if-version(%q))", round, n, key, created))
		e.wantValue(key, value("replace", w), vers[w])
		replaced := vers[w]

		// Phase 3: delete-if-version; the losers find the key gone.
		errs = parallel(n, func(i int) error {
			return clients[i].Delete(e.ctx, key, sdk.IfVersion(replaced))
		})
		oneWinner(e, errs, sdk.ErrNotFound, fmt.Sprintf("round %d: %d clients Delete(%q, if-version(%q))", round, n, key, replaced))
		e.wantMissing(key)
	}
	e.logf("%d rounds of %d clients (%d attached stores): one winner per race", rounds, n, len(e.attached))
}

// oneWinner wants exactly one nil error among errs and loser for the rest,
// and returns the winner's index.
func oneWinner(e *env, errs []error, loser error, what string) int {
	winner := -1
	var winners []int
	for i, err := range errs {
		switch {
		case err == nil:
			winners = append(winners, i)
			winner = i
		case errors.Is(err, loser):
			if msg := kindMismatch(err, loser); msg != "" {
				e.fatalf("%s: client %d: %s", what, i, msg)
			}
		default:
			e.fatalf("%s: client %d: %v, want success or an error wrapping %q", what, i, err, loser)
		}
	}
	if len(winners) != 1 {
		e.fatalf("%s: %d winners %v, want exactly one", what, len(winners), winners)
	}
	return winner
}
