package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

// checkBatchOutcomes runs one batch of mixed outcomes through st and checks
// each result, then a batch under a moved guard that must apply nothing.
func checkBatchOutcomes(t *testing.T, st sdk.Store) {
	t.Helper()
	ctx := context.Background()
	head, err := st.Put(ctx, "v/head", []byte("h1"), sdk.None)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := st.Put(ctx, "v/r/a", []byte("a1"), sdk.None)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := st.Put(ctx, "v/r/gone", []byte("x"), sdk.None)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "v/r/taken", []byte("t"), sdk.None); err != nil {
		t.Fatal(err)
	}
	writes := []sdk.Write{
		{Kind: sdk.WritePut, Key: "v/r/a", Value: []byte("a2"), Cond: sdk.IfVersion(v1)},       // ok
		{Kind: sdk.WritePut, Key: "v/r/new", Value: nil, Cond: sdk.IfAbsent()},                 // ok, empty value
		{Kind: sdk.WritePut, Key: "v/r/taken", Value: []byte("t2"), Cond: sdk.IfAbsent()},      // conflict
		{Kind: sdk.WritePut, Key: "v/r/missing", Value: []byte("m"), Cond: sdk.IfVersion("1")}, // not found
		{Kind: sdk.WriteDelete, Key: "v/r/gone", Cond: sdk.IfVersion(gone)},                    // ok
		{Kind: sdk.WriteDelete, Key: "v/r/never", Cond: sdk.IfVersion("9")},                    // not found
	}
	res, err := sdk.WriteBatch(ctx, st, &sdk.Guard{Key: "v/head", Version: head}, writes)
	if err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	if len(res) != len(writes) {
		t.Fatalf("WriteBatch returned %d results for %d writes", len(res), len(writes))
	}
	want := []error{nil, nil, sdk.ErrConflict, sdk.ErrNotFound, nil, sdk.ErrNotFound}
	for i, w := range want {
		r := res[i]
		switch {
		case w == nil && r.Err != nil:
			t.Errorf("write %d (%s %q): %v, want success", i, writes[i].Kind, writes[i].Key, r.Err)
		case w != nil && (!errors.Is(r.Err, w) || sdk.Kind(r.Err) != w):
			t.Errorf("write %d (%s %q): %v, want %v", i, writes[i].Kind, writes[i].Key, r.Err, w)
		case w != nil && !strings.Contains(r.Err.Error(), writes[i].Key):
			t.Errorf("write %d: error %q does not name key %q", i, r.Err, writes[i].Key)
		case w == nil && writes[i].Kind == sdk.WritePut && r.Version == "":
			t.Errorf("write %d: put succeeded without a version", i)
		case r.Err != nil && r.Version != "":
			t.Errorf("write %d: failed with a version %q", i, r.Version)
		}
	}
	if got, ver, err := st.Get(ctx, "v/r/a"); err != nil || string(got) != "a2" || ver != res[0].Version {
		t.Errorf("v/r/a after batch = %q %q %v, want a2 at %q", got, ver, err, res[0].Version)
	}
	if got, _, err := st.Get(ctx, "v/r/new"); err != nil || len(got) != 0 {
		t.Errorf("v/r/new after batch = %q %v, want empty", got, err)
	}
	if got, _, _ := st.Get(ctx, "v/r/taken"); string(got) != "t" {
		t.Errorf("v/r/taken after a failed if-absent = %q, want t", got)
	}
	for _, k := range []string{"v/r/gone", "v/r/missing", "v/r/never"} {
		if _, _, err := st.Get(ctx, k); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("Get(%q) after batch = %v, want not found", k, err)
		}
	}

	// The guard moves: nothing applies.
	if _, err := st.Put(ctx, "v/head", []byte("h2"), sdk.IfVersion(head)); err != nil {
		t.Fatal(err)
	}
	res, err = sdk.WriteBatch(ctx, st, &sdk.Guard{Key: "v/head", Version: head}, []sdk.Write{
		{Kind: sdk.WritePut, Key: "v/r/a", Value: []byte("a3"), Cond: sdk.None},
		{Kind: sdk.WriteDelete, Key: "v/r/new", Cond: sdk.None},
	})
	if !errors.Is(err, sdk.ErrConflict) || !strings.Contains(err.Error(), "v/head") || res != nil {
		t.Fatalf("WriteBatch under a moved guard = %v, %v; want ErrConflict naming v/head and no results", res, err)
	}
	if got, _, _ := st.Get(ctx, "v/r/a"); string(got) != "a2" {
		t.Errorf("v/r/a after a refused batch = %q, want a2", got)
	}
	if _, _, err := st.Get(ctx, "v/r/new"); err != nil {
		t.Errorf("v/r/new after a refused batch: %v", err)
	}
	// A missing guard key is a conflict too.
	if _, err := sdk.WriteBatch(ctx, st, &sdk.Guard{Key: "v/nohead", Version: head}, []sdk.Write{{Kind: sdk.WriteDelete, Key: "v/r/a"}}); !errors.Is(err, sdk.ErrConflict) {
		t.Fatalf("WriteBatch with a missing guard key = %v, want ErrConflict", err)
	}
	// Without a guard.
	res, err = sdk.WriteBatch(ctx, st, nil, []sdk.Write{{Kind: sdk.WriteDelete, Key: "v/r/a", Cond: sdk.None}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("WriteBatch without guard = %v, %v", res, err)
	}
}

func TestWriteBatchMemstore(t *testing.T) { checkBatchOutcomes(t, memstore.New()) }

// A Store that is not a Batcher gets the emulation.
func TestWriteBatchEmulated(t *testing.T) { checkBatchOutcomes(t, struct{ sdk.Store }{memstore.New()}) }

// The batch crosses the boundary in one call, natively served.
func TestWriteBatchAcrossProcess(t *testing.T) {
	c := openTestPlugin(t, nil, nil)
	if !c.Capabilities().AtomicGuard {
		t.Fatalf("Capabilities = %+v, want AtomicGuard from the memstore plugin", c.Capabilities())
	}
	checkBatchOutcomes(t, c)
}

// A plugin whose Store is not a Batcher: Serve emulates the batch in the
// plugin process and reports no atomic guard.
func TestWriteBatchEmulatedInPlugin(t *testing.T) {
	c := openTestPlugin(t, map[string]string{"batch": "emulated"}, nil)
	if c.Capabilities().AtomicGuard {
		t.Fatalf("Capabilities = %+v, want no AtomicGuard for a Store that is not a Batcher", c.Capabilities())
	}
	checkBatchOutcomes(t, c)
}

// A plugin built on the SDK of protocol 1 has no WriteBatch: the host
// negotiates protocol 1 and emulates the batch with single calls.
func TestWriteBatchLegacyPlugin(t *testing.T) {
	bin := testenv.Binary(t, "./sdk/internal/legacyplugin")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := sdk.Open(ctx, bin, nil, nil)
	if err != nil {
		t.Fatalf("Open of a protocol-1 plugin: %v", err)
	}
	defer c.Close()
	if c.Capabilities().AtomicGuard {
		t.Fatalf("Capabilities = %+v, want no AtomicGuard over protocol 1", c.Capabilities())
	}
	checkBatchOutcomes(t, c)
}

// The host refuses a batch outside the limits before it reaches the plugin.
func TestWriteBatchLimits(t *testing.T) {
	c := openTestPlugin(t, nil, nil)
	ctx := context.Background()
	many := make([]sdk.Write, sdk.MaxBatchWrites+1)
	for i := range many {
		many[i] = sdk.Write{Kind: sdk.WriteDelete, Key: "k/" + itoa(i)}
	}
	big := bytes.Repeat([]byte{1}, sdk.MaxValueSize)
	var heavy []sdk.Write
	for i := 0; i <= sdk.MaxBatchBytes/sdk.MaxValueSize; i++ {
		heavy = append(heavy, sdk.Write{Kind: sdk.WritePut, Key: "h/" + itoa(i), Value: big})
	}
	for name, tc := range map[string]struct {
		guard  *sdk.Guard
		writes []sdk.Write
	}{
		"empty":               {nil, nil},
		"too many":            {nil, many},
		"too big":             {nil, heavy},
		"duplicate":           {nil, []sdk.Write{{Kind: sdk.WriteDelete, Key: "a"}, {Kind: sdk.WriteDelete, Key: "a"}}},
		"guard key":           {&sdk.Guard{Key: "a", Version: "1"}, []sdk.Write{{Kind: sdk.WriteDelete, Key: "a"}}},
		"bad key":             {nil, []sdk.Write{{Kind: sdk.WriteDelete, Key: "A"}}},
		"bad kind":            {nil, []sdk.Write{{Kind: 9, Key: "a"}}},
		"del value":           {nil, []sdk.Write{{Kind: sdk.WriteDelete, Key: "a", Value: []byte("x")}}},
		"del absent":          {nil, []sdk.Write{{Kind: sdk.WriteDelete, Key: "a", Cond: sdk.IfAbsent()}}},
		"empty guard version": {&sdk.Guard{Key: "g"}, []sdk.Write{{Kind: sdk.WriteDelete, Key: "a"}}},
	} {
		if _, err := c.WriteBatch(ctx, tc.guard, tc.writes); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("%s: WriteBatch = %v, want ErrInvalidArgument", name, err)
		}
	}
	// Exactly at the byte limit fits the boundary's messages.
	var full []sdk.Write
	for i := 0; i < sdk.MaxBatchBytes/sdk.MaxValueSize; i++ {
		full = append(full, sdk.Write{Kind: sdk.WritePut, Key: "f/" + itoa(i), Value: big})
	}
	res, err := c.WriteBatch(ctx, nil, full)
	if err != nil || len(res) != len(full) {
		t.Fatalf("WriteBatch of exactly MaxBatchBytes = %d results, %v", len(res), err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("write %d of a full batch: %v", i, r.Err)
		}
	}
	// And the maximum number of writes.
	for i := range many[:sdk.MaxBatchWrites] {
		many[i] = sdk.Write{Kind: sdk.WritePut, Key: "k/" + itoa(i), Value: []byte("v"), Cond: sdk.IfAbsent()}
	}
	res, err = c.WriteBatch(ctx, nil, many[:sdk.MaxBatchWrites])
	if err != nil || len(res) != sdk.MaxBatchWrites {
		t.Fatalf("WriteBatch of MaxBatchWrites = %d results, %v", len(res), err)
	}
}

// A canceled context reaches the plugin and comes back as context.Canceled.
func TestWriteBatchCanceled(t *testing.T) {
	c := openTestPlugin(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.WriteBatch(ctx, nil, []sdk.Write{{Kind: sdk.WriteDelete, Key: "a"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteBatch with a canceled context = %v, want context.Canceled", err)
	}
}
