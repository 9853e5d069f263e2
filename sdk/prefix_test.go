package sdk_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

func TestWithPrefixKeepsStoresApart(t *testing.T) {
	ctx := context.Background()
	shared := memstore.New()
	a, b := sdk.WithPrefix(shared, "team/a"), sdk.WithPrefix(shared, "team/b")
	if sdk.WithPrefix(shared, "") != sdk.Store(shared) {
		t.Fatal(`WithPrefix(st, "") is not st`)
	}
	for _, k := range []string{"k1", "k2", "x/k3"} {
		if _, err := a.Put(ctx, k, []byte("a-"+k), sdk.None); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Put(ctx, "k1", []byte("b"), sdk.IfAbsent()); err != nil {
		t.Fatalf("b's k1 is not a's: %v", err)
	}
	// What is stored is prefix/key: existing data keeps its names.
	if v, _, err := shared.Get(ctx, "team/a/x/k3"); err != nil || string(v) != "a-x/k3" {
		t.Fatalf("stored as team/a/x/k3: %q, %v", v, err)
	}
	p, err := a.List(ctx, sdk.ListOptions{Limit: 10})
	if err != nil || len(p.Entries) != 3 || p.Entries[0].Key != "k1" || p.Entries[2].Key != "x/k3" {
		t.Fatalf("a lists %+v, %v", p, err)
	}
	p, err = a.List(ctx, sdk.ListOptions{StartAfter: "k1", Limit: 1})
	if err != nil || len(p.Entries) != 1 || p.Entries[0].Key != "k2" || !p.More {
		t.Fatalf("a lists after k1: %+v, %v", p, err)
	}
	p, err = a.List(ctx, sdk.ListOptions{Prefix: "x/", Limit: 10, WithValues: true})
	if err != nil || len(p.Entries) != 1 || p.Entries[0].Key != "x/k3" || string(p.Entries[0].Value) != "a-x/k3" {
		t.Fatalf("a lists x/: %+v, %v", p, err)
	}
	if err := b.Delete(ctx, "k2", sdk.None); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Get(ctx, "k2"); err != nil {
		t.Fatalf("b's delete reached a's k2: %v", err)
	}

	// A batch and its guard are prefixed too.
	_, gv, err := a.Get(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	res, err := sdk.WriteBatch(ctx, a, &sdk.Guard{Key: "k1", Version: gv}, []sdk.Write{{Kind: sdk.WritePut, Key: "new", Value: []byte("n")}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("batch under a's guard: %+v, %v", res, err)
	}
	if _, _, err := shared.Get(ctx, "team/a/new"); err != nil {
		t.Fatalf("batch write not stored under the prefix: %v", err)
	}
	_, err = sdk.WriteBatch(ctx, b, &sdk.Guard{Key: "k1", Version: gv}, []sdk.Write{{Kind: sdk.WritePut, Key: "new", Value: []byte("n")}})
	if !errors.Is(err, sdk.ErrConflict) {
		t.Fatalf("batch under b's k1 with a's version: %v, want ErrConflict", err)
	}
}
