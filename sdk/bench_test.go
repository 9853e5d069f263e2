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
