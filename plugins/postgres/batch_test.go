package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
)

// Batches writing the same keys in opposite orders never deadlock: each
// batch locks its rows in key order, whatever the order of its writes (a
// deadlock would surface as ErrUnavailable, SQLSTATE 40P01).
func TestBatchOppositeOrders(t *testing.T) {
	s := newTestDB(t, nil).open(t, nil)
	ctx := ctxT(t)
	const n = 40
	fwd := make([]sdk.Write, n)
	rev := make([]sdk.Write, n)
	for i := range fwd {
		fwd[i] = sdk.Write{Kind: sdk.WritePut, Key: fmt.Sprintf("o/%02d", i), Value: []byte("fwd")}
		rev[n-1-i] = sdk.Write{Kind: sdk.WritePut, Key: fmt.Sprintf("o/%02d", i), Value: []byte("rev")}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws := fwd
			if g%2 == 1 {
				ws = rev
			}
			for i := 0; i < 10; i++ {
				res, err := s.WriteBatch(ctx, nil, ws)
				if err != nil {
					errs <- err
					return
				}
				// Results come back in the caller's order.
				for j, r := range res {
					if r.Err != nil || r.Version == "" {
						errs <- fmt.Errorf("write %d (%s): %v", j, ws[j].Key, r.Err)
						return
					}
					if got, ver, err := s.Get(ctx, ws[j].Key); err == nil && ver == r.Version && string(got) != string(ws[j].Value) {
						errs <- fmt.Errorf("%s at version %s holds %q, want %q", ws[j].Key, ver, got, ws[j].Value)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkWrite1000 rewrites 1,000 values of 1 KiB with if-version, as a
// sweep page does: "batch" in one WriteBatch (one round trip, one
// transaction, guarded), "puts" as 1,000 single Puts. One op is the 1,000
// writes.
func BenchmarkWrite1000(b *testing.B) {
	s := newTestDB(b, nil).open(b, nil)
	ctx := context.Background()
	head, err := s.Put(ctx, "sweep/head", []byte("h"), sdk.None)
	if err != nil {
		b.Fatal(err)
	}
	ws := make([]sdk.Write, sdk.MaxBatchWrites)
	value := make([]byte, 1024)
	for i := range ws {
		k := fmt.Sprintf("sweep/r/%04d", i)
		v, err := s.Put(ctx, k, value, sdk.None)
		if err != nil {
			b.Fatal(err)
		}
		ws[i] = sdk.Write{Kind: sdk.WritePut, Key: k, Value: value, Cond: sdk.IfVersion(v)}
	}
	b.Run("batch", func(b *testing.B) {
		for b.Loop() {
			res, err := s.WriteBatch(ctx, &sdk.Guard{Key: "sweep/head", Version: head}, ws)
			if err != nil {
				b.Fatal(err)
			}
			for i, r := range res {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
				ws[i].Cond = sdk.IfVersion(r.Version)
			}
		}
	})
	b.Run("puts", func(b *testing.B) {
		for b.Loop() {
			for i, w := range ws {
				v, err := s.Put(ctx, w.Key, w.Value, w.Cond)
				if err != nil {
					b.Fatal(err)
				}
				ws[i].Cond = sdk.IfVersion(v)
			}
		}
	})
}

// BenchmarkPutForms times one credential write (2 KiB, if-version) in the
// forms the engine and the bench use, one after another in one run, so that
// the cost of the atomic guard is a difference of two figures: "put" is a
// single Put; "batch" a WriteBatch of that put without a guard; "guarded"
// the same batch guarded by a head key (what the engine's put sends: the
// guard row is locked FOR SHARE in the batch's transaction); "upsert" the
// bench's raw baseline (INSERT ... ON CONFLICT DO UPDATE with no condition).
// The "c8/" forms run 8 writers on 8 distinct keys at once, the guarded ones
// sharing one head, as concurrent puts into one vault do; ns/op is then the
// wall time over all writes (8 in flight), us/write the mean latency of one.
func BenchmarkPutForms(b *testing.B) {
	s := newTestDB(b, nil).open(b, map[string]string{"max_conns": "16"})
	ctx := context.Background()
	head, err := s.Put(ctx, "v/head", []byte("h"), sdk.None)
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 2048)
	rand.Read(value) // as incompressible as a record
	ver, err := s.Put(ctx, "v/r/cred", value, sdk.None)
	if err != nil {
		b.Fatal(err)
	}
	batch := func(guard *sdk.Guard) {
		res, err := s.WriteBatch(ctx, guard, []sdk.Write{{Kind: sdk.WritePut, Key: "v/r/cred", Value: value, Cond: sdk.IfVersion(ver)}})
		if err != nil || res[0].Err != nil {
			b.Fatal(err, res)
		}
		ver = res[0].Version
	}
	b.Run("put", func(b *testing.B) {
		for b.Loop() {
			if ver, err = s.Put(ctx, "v/r/cred", value, sdk.IfVersion(ver)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("batch", func(b *testing.B) {
		for b.Loop() {
			batch(nil)
		}
	})
	b.Run("guarded", func(b *testing.B) {
		for b.Loop() {
			batch(&sdk.Guard{Key: "v/head", Version: head})
		}
	})
	upsert := "INSERT INTO " + s.n.qTable + " (key, value, version) VALUES ($1, $2, nextval(" + s.n.seqRegclassText + ")) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
	b.Run("upsert", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.pool.Exec(ctx, upsert, "v/r/raw", value); err != nil {
				b.Fatal(err)
			}
		}
	})

	// The same forms with 8 writers, writer w on key v/r/cred-w.
	const writers = 8
	vers := make([]sdk.Version, writers)
	for w := range vers {
		if vers[w], err = s.Put(ctx, fmt.Sprintf("v/r/cred-%d", w), value, sdk.None); err != nil {
			b.Fatal(err)
		}
	}
	parallel := func(b *testing.B, write func(w int) error) {
		var wg sync.WaitGroup
		var total atomic.Int64 // ns of all writes
		errs := make(chan error, writers)
		b.ResetTimer()
		for w := 0; w < writers; w++ {
			n := b.N / writers
			if w < b.N%writers {
				n++
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n {
					t0 := time.Now()
					if err := write(w); err != nil {
						errs <- err
						return
					}
					total.Add(int64(time.Since(t0)))
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		b.ReportMetric(float64(total.Load())/float64(b.N)/1e3, "us/write")
	}
	batch8 := func(guard *sdk.Guard) func(w int) error {
		return func(w int) error {
			res, err := s.WriteBatch(ctx, guard, []sdk.Write{{Kind: sdk.WritePut, Key: fmt.Sprintf("v/r/cred-%d", w), Value: value, Cond: sdk.IfVersion(vers[w])}})
			if err != nil {
				return err
			}
			if res[0].Err != nil {
				return res[0].Err
			}
			vers[w] = res[0].Version
			return nil
		}
	}
	b.Run("c8/put", func(b *testing.B) {
		parallel(b, func(w int) error {
			v, err := s.Put(ctx, fmt.Sprintf("v/r/cred-%d", w), value, sdk.IfVersion(vers[w]))
			vers[w] = v
			return err
		})
	})
	b.Run("c8/batch", func(b *testing.B) { parallel(b, batch8(nil)) })
	b.Run("c8/guarded", func(b *testing.B) { parallel(b, batch8(&sdk.Guard{Key: "v/head", Version: head})) })
	b.Run("c8/upsert", func(b *testing.B) {
		parallel(b, func(w int) error {
			_, err := s.pool.Exec(ctx, upsert, fmt.Sprintf("v/r/raw-%d", w), value)
			return err
		})
	})
}

// A guarded batch never commits after a write that moved its guard: writers
// run batches guarded by the version of "g" they just read, while another
// goroutine compare-and-swaps "g" without pause and monitors take snapshots
// (pg_current_snapshot with the guard's version in it) as fast as they can.
// A batch guarded by v whose transaction is not yet visible in a snapshot
// that already shows the guard moved past v committed after that move: the
// atomic guard is broken. The check needs a snapshot to fall between the two
// commits, so it catches a broken guard often, not always (each violation
// has a chance of being seen).
func TestGuardAtomicUnderCAS(t *testing.T) {
	s := newTestDB(t, nil).open(t, map[string]string{"max_conns": "16"})
	ctx := ctxT(t)
	g0 := mustPut(t, s, "g", []byte("g"), sdk.None)

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
		stop.Store(true)
	}
	// The guard's versions in commit order (one mover, one CAS at a time).
	chain := []int64{}
	if v, ok := parseVersion(g0); ok {
		chain = append(chain, v)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		v := g0
		for !stop.Load() {
			nv, err := s.Put(ctx, "g", []byte("g"), sdk.IfVersion(v))
			if err != nil {
				fail(fmt.Errorf("move the guard: %w", err))
				return
			}
			n, _ := parseVersion(nv)
			chain = append(chain, n)
			v = nv
		}
	}()
	type snap struct {
		xmin, xmax uint64
		xip        map[uint64]bool
		guard      int64
	}
	snaps := make([][]snap, 2)
	for m := range snaps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				var text string
				var guard int64
				if err := s.pool.QueryRow(ctx, "SELECT pg_current_snapshot()::text, version FROM "+s.n.qTable+" WHERE key = 'g'").Scan(&text, &guard); err != nil {
					fail(err)
					return
				}
				sn := snap{guard: guard, xip: map[uint64]bool{}}
				parts := strings.Split(text, ":")
				sn.xmin, _ = strconv.ParseUint(parts[0], 10, 64)
				sn.xmax, _ = strconv.ParseUint(parts[1], 10, 64)
				for _, x := range strings.Split(parts[2], ",") {
					if x != "" {
						n, _ := strconv.ParseUint(x, 10, 64)
						sn.xip[n] = true
					}
				}
				snaps[m] = append(snaps[m], sn)
			}
		}()
	}
	var applied, refused atomic.Int64
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				_, v, err := s.Get(ctx, "g")
				if err != nil {
					fail(err)
					return
				}
				res, err := s.WriteBatch(ctx, &sdk.Guard{Key: "g", Version: v}, []sdk.Write{
					{Kind: sdk.WritePut, Key: fmt.Sprintf("i/%d/%d", w, i), Value: []byte(v)},
				})
				switch {
				case errors.Is(err, sdk.ErrConflict):
					refused.Add(1)
				case err != nil:
					fail(err)
					return
				case res[0].Err != nil:
					fail(res[0].Err)
					return
				default:
					applied.Add(1)
				}
			}
		}()
	}
	time.Sleep(3 * time.Second)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Snapshots by the guard version they saw.
	byGuard := map[int64][]snap{}
	for _, ss := range snaps {
		for _, sn := range ss {
			byGuard[sn.guard] = append(byGuard[sn.guard], sn)
		}
	}
	next := map[int64]int64{}
	for i := 0; i+1 < len(chain); i++ {
		next[chain[i]] = chain[i+1]
	}
	rows, err := s.pool.Query(ctx, "SELECT key, value, xmin::text FROM "+s.n.qTable+" WHERE key LIKE 'i/%'")
	if err != nil {
		t.Fatal(err)
	}
	var items, late, witnessed int
	for rows.Next() {
		var key, xs string
		var value []byte
		if err := rows.Scan(&key, &value, &xs); err != nil {
			t.Fatal(err)
		}
		items++
		v, _ := parseVersion(sdk.Version(value))
		x, _ := strconv.ParseUint(xs, 10, 64) // xid: the test's epoch is 0
		// Snapshots that saw the guard one or two moves past v.
		for moved, k := next[v], 0; moved != 0 && k < 2; moved, k = next[moved], k+1 {
			for _, sn := range byGuard[moved] {
				witnessed++
				if x >= sn.xmax || sn.xip[x] {
					late++
					if late <= 5 {
						t.Errorf("%s, guarded by version %d, committed after a snapshot that saw the guard at %d (xid %d, snapshot %d:%d)", key, v, moved, x, sn.xmin, sn.xmax)
					}
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if late > 0 {
		t.Errorf("%d late commits of %d items", late, items)
	}
	t.Logf("%d guard moves, %d batches applied, %d refused, %d snapshots (%d item/snapshot pairs checked)", len(chain)-1, applied.Load(), refused.Load(), len(snaps[0])+len(snaps[1]), witnessed)
	if applied.Load() == 0 || refused.Load() == 0 || len(chain) < 10 {
		t.Errorf("the race did not happen: want batches applied and refused, and the guard moved often")
	}
}
