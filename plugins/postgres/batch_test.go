package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
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
	srv := testenv.Postgres(b)
	_, dsn := srv.NewDatabase(b, nil)
	ctx := context.Background()
	st, err := New(ctx, map[string]string{"dsn": dsn})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s := st.(*Store)
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
