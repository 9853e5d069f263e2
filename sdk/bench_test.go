package sdk_test

import (
	"context"
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
)

func benchClient(b *testing.B) *sdk.Client {
	bin := testenv.Binary(b, "./sdk/internal/testplugin")
	c, err := sdk.Open(context.Background(), bin, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkPing is the floor of any call across the plugin boundary.
func BenchmarkPing(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet1KiB is one Get of a 1 KiB value from an in-memory plugin.
func BenchmarkGet1KiB(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", make([]byte, 1024), sdk.None); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Get(ctx, "k"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPut1KiB is one unconditional Put of a 1 KiB value.
func BenchmarkPut1KiB(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	v := make([]byte, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Put(ctx, "k", v, sdk.None); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetParallel is Get of a 1 KiB value from 8 goroutines per CPU
// sharing one plugin connection: throughput across the boundary.
func BenchmarkGetParallel(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", make([]byte, 1024), sdk.None); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Get(ctx, "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchWrites is 1,000 puts of 1 KiB values, one listing page of a sweep.
func benchWrites() []sdk.Write {
	ws := make([]sdk.Write, sdk.MaxBatchWrites)
	for i := range ws {
		ws[i] = sdk.Write{Kind: sdk.WritePut, Key: "sweep/r/" + itoa(i), Value: make([]byte, 1024)}
	}
	return ws
}

// BenchmarkWrite1000 writes 1,000 values of 1 KiB to an in-memory plugin:
// "batch" in one WriteBatch across the boundary (guarded, as a sweep page
// is), "puts" as 1,000 single Puts, "puts-16" as 1,000 Puts 16 at a time (the
// concurrency of the SDK's emulation). One op is the 1,000 writes; the ratio
// of the ns/op is the saving per sweep page.
func BenchmarkWrite1000(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	head, err := c.Put(ctx, "sweep/head", []byte("h"), sdk.None)
	if err != nil {
		b.Fatal(err)
	}
	ws := benchWrites()
	b.Run("batch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			res, err := c.WriteBatch(ctx, &sdk.Guard{Key: "sweep/head", Version: head}, ws)
			if err != nil || len(res) != len(ws) {
				b.Fatal(err)
			}
		}
	})
	b.Run("puts", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, w := range ws {
				if _, err := c.Put(ctx, w.Key, w.Value, w.Cond); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("puts-16", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sem := make(chan struct{}, 16)
			errs := make(chan error, len(ws))
			for _, w := range ws {
				sem <- struct{}{}
				go func() {
					defer func() { <-sem }()
					_, err := c.Put(ctx, w.Key, w.Value, w.Cond)
					errs <- err
				}()
			}
			for range ws {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
