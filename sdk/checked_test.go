package sdk_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

// counting is a Store that counts the calls that reach it.
type counting struct {
	*memstore.Store
	calls   atomic.Int64
	batches atomic.Int64
	caps    sdk.Capabilities
}

func (c *counting) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	c.calls.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *counting) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	c.calls.Add(1)
	return c.Store.Put(ctx, key, value, cond)
}

func (c *counting) Delete(ctx context.Context, key string, cond sdk.Cond) error {
	c.calls.Add(1)
	return c.Store.Delete(ctx, key, cond)
}

func (c *counting) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	c.calls.Add(1)
	if opts.Limit != sdk.DefaultListLimit && opts.Limit == 0 {
		return sdk.Page{}, errors.New("limit not defaulted")
	}
	return c.Store.List(ctx, opts)
}

func (c *counting) Capabilities() sdk.Capabilities { return c.caps }

// batching adds a native WriteBatch to counting.
type batching struct{ *counting }

func (b batching) WriteBatch(ctx context.Context, g *sdk.Guard, w []sdk.Write) ([]sdk.WriteResult, error) {
	b.batches.Add(1)
	return sdk.EmulateBatch(ctx, b.counting, g, w)
}

func TestCheckedRefusesInvalidArgumentsBeforeTheStore(t *testing.T) {
	ctx := context.Background()
	inner := &counting{Store: memstore.New(), caps: sdk.Capabilities{MaxValueSize: 10}}
	st := sdk.Checked(inner)
	invalid := map[string]func() error{
		"get bad key":       func() error { _, _, err := st.Get(ctx, "A"); return err },
		"put bad key":       func() error { _, err := st.Put(ctx, "a//b", nil, sdk.None); return err },
		"put over the caps": func() error { _, err := st.Put(ctx, "a", make([]byte, 11), sdk.None); return err },
		"put empty version": func() error { _, err := st.Put(ctx, "a", nil, sdk.IfVersion("")); return err },
		"delete if-absent":  func() error { return st.Delete(ctx, "a", sdk.IfAbsent()) },
		"delete bad key":    func() error { return st.Delete(ctx, "../a", sdk.None) },
		"list bad prefix":   func() error { _, err := st.List(ctx, sdk.ListOptions{Prefix: "/a"}); return err },
		"list big limit":    func() error { _, err := st.List(ctx, sdk.ListOptions{Limit: sdk.MaxListLimit + 1}); return err },
		"batch empty": func() error {
			_, err := st.(sdk.Batcher).WriteBatch(ctx, nil, nil)
			return err
		},
		"batch bad key": func() error {
			_, err := sdk.WriteBatch(ctx, st, nil, []sdk.Write{{Kind: sdk.WritePut, Key: "A"}})
			return err
		},
		"batch value over the caps": func() error {
			_, err := sdk.WriteBatch(ctx, st, nil, []sdk.Write{{Kind: sdk.WritePut, Key: "a", Value: make([]byte, 11)}})
			return err
		},
	}
	for name, call := range invalid {
		if err := call(); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	if n := inner.calls.Load(); n != 0 {
		t.Fatalf("%d invalid calls reached the store", n)
	}

	// Valid calls pass, with the list limit defaulted.
	v, err := st.Put(ctx, "a", []byte("0123456789"), sdk.IfAbsent())
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := st.Get(ctx, "a"); err != nil || got != v {
		t.Fatalf("Get: %q, %v", got, err)
	}
	if p, err := st.List(ctx, sdk.ListOptions{}); err != nil || len(p.Entries) != 1 {
		t.Fatalf("List: %+v, %v", p, err)
	}
	if err := st.Delete(ctx, "a", sdk.IfVersion(v)); err != nil {
		t.Fatal(err)
	}
	if n := inner.calls.Load(); n != 4 {
		t.Fatalf("%d calls reached the store, want 4", n)
	}
}

func TestCheckedPassesCapabilitiesAndBatcherThrough(t *testing.T) {
	ctx := context.Background()
	inner := batching{&counting{Store: memstore.New(), caps: sdk.Capabilities{NativeListValues: true, AtomicGuard: true}}}
	st := sdk.Checked(inner)
	caps := st.(sdk.CapabilityReporter).Capabilities()
	if !caps.NativeListValues || !caps.AtomicGuard || caps.MaxValueSize != sdk.MaxValueSize {
		t.Fatalf("capabilities %+v, want the inner store's with MaxValueSize defaulted", caps)
	}
	res, err := sdk.WriteBatch(ctx, st, nil, []sdk.Write{{Kind: sdk.WritePut, Key: "a", Value: []byte("x")}, {Kind: sdk.WriteDelete, Key: "b"}})
	if err != nil || len(res) != 2 || res[0].Err != nil || res[0].Version == "" || res[1].Err != nil {
		t.Fatalf("WriteBatch: %+v, %v", res, err)
	}
	if n := inner.batches.Load(); n != 1 {
		t.Fatalf("the inner Batcher was called %d times, want 1", n)
	}
	// Without a native batch, the batch is emulated on the inner store.
	plain := &counting{Store: memstore.New()}
	if _, err := sdk.WriteBatch(ctx, sdk.Checked(plain), nil, []sdk.Write{{Kind: sdk.WritePut, Key: "a"}}); err != nil {
		t.Fatal(err)
	}
	if n := plain.calls.Load(); n != 1 {
		t.Fatalf("emulated batch made %d calls, want 1", n)
	}
}

func TestCheckedWrapsOnce(t *testing.T) {
	st := sdk.Checked(memstore.New())
	if again := sdk.Checked(st); again != st {
		t.Fatalf("Checked of a checked store wrapped it again")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Get(context.Background(), "a"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Get after Close: %v, want the inner store's closed error", err)
	}
}
