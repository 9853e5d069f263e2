package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
)

func checkReopenData(e *env) {
	r := e.rng()
	want := map[string][]byte{
		"d":            []byte("top"),
		"d/empty":      {},
		"d/one":        {7},
		"d/big":        randomBytes(r, e.maxValue()),
		"d/overwrite":  []byte("first"),
		"d/deep/a/b/c": []byte("deep"),
		"d/deleted":    []byte("gone soon"),
	}
	for k, v := range want {
		e.mustPut(k, v, sdk.None)
	}
	want["d/overwrite"] = []byte("second")
	e.mustPut("d/overwrite", want["d/overwrite"], sdk.None)
	e.mustDelete("d/deleted", sdk.None)
	delete(want, "d/deleted")

	e.reopen()

	var keys []string
	for k, v := range want {
		e.wantValue(k, v, "")
		keys = append(keys, k)
	}
	e.wantMissing("d/deleted")
	slices.Sort(keys)
	e.wantEntriesMatchGet(e.listAll(e.s, "", 0, true), keys)
}

func checkReopenVersions(e *env) {
	v1 := e.mustPut("v/one", []byte("one"), sdk.None)
	v2 := e.mustPut("v/two", []byte("two"), sdk.None)
	e.reopen()
	e.wantValue("v/one", []byte("one"), v1)
	e.wantValue("v/two", []byte("two"), v2)
	if got := e.listedVersionIn("v/", "v/one"); got != v1 {
		e.fatalf("after reopen List shows version %q for %q, want %q", got, "v/one", v1)
	}
	v1b := e.mustPut("v/one", []byte("one again"), sdk.IfVersion(v1))
	if v1b == v1 {
		e.fatalf("after reopen, Put(%q, if-version) returned the version %q it replaced", "v/one", v1)
	}
	e.mustDelete("v/two", sdk.IfVersion(v2))
	_, err := e.s.Put(e.ctx, "v/one", []byte("stale"), sdk.IfVersion(v1))
	e.wantKind(err, sdk.ErrConflict, "after reopen, Put(\"v/one\", if-version) with the replaced version")
	// Versions written after the reopen are new ones too.
	e.reopen()
	e.wantValue("v/one", []byte("one again"), v1b)
	v1c := e.mustPut("v/one", []byte("one again"), sdk.None)
	if v1c == v1 || v1c == v1b {
		e.fatalf("after a second reopen, a write of %q returned an old version %q", "v/one", v1c)
	}
}

func (e *env) listedVersionIn(prefix, key string) sdk.Version {
	for _, en := range e.listAll(e.s, prefix, 0, false) {
		if en.Key == key {
			return en.Version
		}
	}
	return ""
}

// crashWriter is one goroutine writing one key until told to stop; it
// records its last completed operation and the one in flight.
type crashWriter struct {
	key    string
	toggle bool // alternate Put and Delete

	mu          sync.Mutex
	done        []byte // value of the last completed write, or of before the cycle; nil: missing
	inflight    []byte
	inflightDel bool
	busy        bool
	err         error
	completed   int
}

func checkCrash(e *env) {
	const cycles = 3
	size := min(256<<10, e.maxValue())
	// The state every key had before the cycle: key -> value (nil: missing).
	state := map[string][]byte{}
	e.mustPut("crash/shared", []byte("before any crash"), sdk.None)
	state["crash/shared"] = []byte("before any crash")

	for cycle := 0; cycle < cycles; cycle++ {
		writers := []*crashWriter{
			{key: "crash/shared"},
			{key: fmt.Sprintf("crash/new-%d-a", cycle)},
			{key: fmt.Sprintf("crash/new-%d-b", cycle)},
			{key: "crash/toggle", toggle: true},
		}
		for _, w := range writers {
			w.done = state[w.key]
		}
		var stop atomic.Bool
		var total atomic.Int64
		var wg sync.WaitGroup
		s := e.s
		for wi, w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := 0; !stop.Load(); seq++ {
					del := w.toggle && seq%2 == 1
					var v []byte
					if !del {
						v = stamp(w.key, cycle*100+wi, seq, size)
					}
					w.mu.Lock()
					w.inflight, w.inflightDel, w.busy = v, del, true
					w.mu.Unlock()
					var err error
					if del {
						err = s.Delete(e.ctx, w.key, sdk.None)
					} else {
						_, err = s.Put(e.ctx, w.key, v, sdk.None)
					}
					w.mu.Lock()
					if err != nil {
						w.err = err
						w.mu.Unlock()
						return
					}
					w.done, w.inflight, w.inflightDel, w.busy = v, nil, false, false
					w.completed++
					w.mu.Unlock()
					total.Add(1)
				}
			}()
		}
		// Let writes get going, then kill at a moment that varies.
		start := time.Now()
		for total.Load() < int64(8+4*cycle) && time.Since(start) < 10*time.Second {
			time.Sleep(time.Millisecond)
		}
		if total.Load() == 0 {
			stop.Store(true)
			wg.Wait()
			e.fatalf("cycle %d: no write completed within 10s (first error: %v)", cycle, firstErr(writers))
		}
		time.Sleep(time.Duration(e.rng().IntN(5000)+cycle*1700) * time.Microsecond)
		stop.Store(true)
		if err := e.kill(); err != nil {
			e.fatalf("cycle %d: harness Kill: %v", cycle, err)
		}
		waited := make(chan struct{})
		go func() { wg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(30 * time.Second):
			e.fatalf("cycle %d: calls in flight did not return within 30s of the kill", cycle)
		}
		e.reopen()

		inflight := 0
		var present []string
		for _, w := range writers {
			if w.busy {
				inflight++
			}
			b, _, err := e.s.Get(e.ctx, w.key)
			switch {
			case errors.Is(err, sdk.ErrNotFound):
				if !(w.done == nil || (w.busy && w.inflightDel)) {
					e.fatalf("cycle %d: after the crash %q is missing, but its last completed write (of %d) stored a value and no delete was in flight", cycle, w.key, w.completed)
				}
				state[w.key] = nil
			case err != nil:
				e.fatalf("cycle %d: Get(%q) after the crash: %v", cycle, w.key, err)
			default:
				present = append(present, w.key)
				switch {
				case w.done != nil && bytes.Equal(b, w.done):
				case w.busy && !w.inflightDel && bytes.Equal(b, w.inflight):
				default:
					why := "neither the last completed write nor the one in flight"
					if _, _, err := unstamp(w.key, b); err != nil {
						why = err.Error()
					}
					e.fatalf("cycle %d: after the crash %q holds %s: %s", cycle, w.key, describe(b), why)
				}
				state[w.key] = b
			}
		}
		// Earlier cycles' keys stay as they were.
		for k, v := range state {
			if slices.ContainsFunc(writers, func(w *crashWriter) bool { return w.key == k }) {
				continue
			}
			if v == nil {
				e.wantMissing(k)
			} else {
				e.wantValue(k, v, "")
				present = append(present, k)
			}
		}
		slices.Sort(present)
		// Nothing half-written (temporary files, journal entries) is listed.
		e.wantEntriesMatchGet(e.listAll(e.s, "", 0, true), present)
		e.logf("cycle %d: %d writes completed, %d in flight at the kill, %d keys present", cycle, total.Load(), inflight, len(present))
	}
	// The store still takes writes after the crashes.
	_, v := e.mustGet("crash/shared")
	e.mustPut("crash/shared", []byte("after the crashes"), sdk.IfVersion(v))
}

func firstErr(ws []*crashWriter) error {
	for _, w := range ws {
		w.mu.Lock()
		err := w.err
		w.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}
