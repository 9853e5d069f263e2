package core

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

// countingStore counts calls to the wrapped store.
type countingStore struct {
	sdk.Store
	gets, puts, lists atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *countingStore) Put(ctx context.Context, key string, v []byte, cond sdk.Cond) (sdk.Version, error) {
	c.puts.Add(1)
	return c.Store.Put(ctx, key, v, cond)
}

func (c *countingStore) List(ctx context.Context, o sdk.ListOptions) (sdk.Page, error) {
	c.lists.Add(1)
	return c.Store.List(ctx, o)
}

// TestGetIsOneRead: after Unlock, Get is one store read and one AEAD open;
// it reads no head and no slot, so it runs no KDF and no HPKE.
func TestGetIsOneRead(t *testing.T) {
	ctx := context.Background()
	cs := &countingStore{Store: memstore.New()}
	e := newEngine(t, cs, nil)
	v, err := e.CreateVault(ctx, "one-read", testIdentity(t, "alice"), "alice")
	must(t, err)
	must(t, v.Put(ctx, "k", []byte("v")))
	v2, err := e.Unlock(ctx, "one-read", testIdentity(t, "alice"))
	must(t, err)
	before := cs.gets.Load() + cs.puts.Load() + cs.lists.Load()
	for range 10 {
		if _, err := v2.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if d := cs.gets.Load() + cs.puts.Load() + cs.lists.Load() - before; d != 10 {
		t.Fatalf("10 Gets made %d store calls, want 10", d)
	}
}

func benchVault(b *testing.B, records int) (*Vault, context.Context) {
	ctx := context.Background()
	e := newEngine(b, memstore.New(), &Options{StateDir: stateDir(b), SessionTTL: time.Hour})
	v, err := e.CreateVault(ctx, "bench", testIdentity(b, "alice"), "alice")
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 256)
	for i := range records {
		if err := v.Put(ctx, fmt.Sprintf("cred-%05d", i), val); err != nil {
			b.Fatal(err)
		}
	}
	return v, ctx
}

// BenchmarkGet: the unlocked read path (one store read, one AEAD open of a
// 256-byte credential).
func BenchmarkGet(b *testing.B) {
	v, ctx := benchVault(b, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Get(ctx, "cred-00042"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPut: encrypt and write one 256-byte credential (with the head
// checks before and after the write).
func BenchmarkPut(b *testing.B) {
	v, ctx := benchVault(b, 100)
	val := make([]byte, 256)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Put(ctx, "cred-00042", val); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGrant: grant one X25519 member to a vault of 1000 credentials
// (one HPKE seal for the slot, one for the index entry, one signed head).
func BenchmarkGrant(b *testing.B) {
	v, ctx := benchVault(b, 1000)
	const batch = 64
	ids := make([]*Identity, batch)
	for i := range ids {
		id, err := NewIdentity(SuiteX25519)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = id
	}
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		if n == batch {
			b.StopTimer()
			v, ctx = benchVault(b, 0)
			n = 0
			b.StartTimer()
		}
		if err := v.Grant(ctx, ids[n].Recipient(), fmt.Sprintf("m%d", n), RoleMember, classicalOK); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkSweep: Rotate over 1000 credentials; ns/record is the sweep cost
// per record (read, decrypt, re-encrypt, compare-and-swap write).
func BenchmarkSweep(b *testing.B) {
	const records = 1000
	v, ctx := benchVault(b, records)
	b.ReportAllocs()
	start := time.Now()
	rounds := 0
	for b.Loop() {
		if err := errOf(v.Rotate(ctx)); err != nil {
			b.Fatal(err)
		}
		rounds++
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(rounds*records), "ns/record")
}

// BenchmarkPutFS puts one 1 KiB credential on the fs store through the
// engine, with the store in this process ("in-process") and behind the fs
// plugin binary ("plugin"), alternated in one run on the same disk: the
// difference is what the process boundary costs a write that fsyncs twice
// (the bench's put workload compares the plugin with raw file writes).
func BenchmarkPutFS(b *testing.B) {
	for _, where := range []string{"in-process", "plugin", "in-process", "plugin"} {
		b.Run(where, func(b *testing.B) {
			// On disk, not tmpfs: the fsyncs are the point.
			dir := filepath.Join(b.TempDir(), "data")
			var st sdk.Store
			if where == "in-process" {
				s, err := fs.Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				st = s
			} else {
				bin := testenv.Binary(b, "./plugins/fs/cmd/aileron-store-fs")
				c, err := sdk.Open(context.Background(), bin, map[string]string{"path": dir}, nil)
				if err != nil {
					b.Fatal(err)
				}
				st = c
			}
			b.Cleanup(func() { st.Close() })
			ctx := context.Background()
			e := newEngine(b, st, &Options{StateDir: stateDir(b), SessionTTL: time.Hour})
			v, err := e.CreateVault(ctx, "bench", testIdentity(b, "alice"), "alice")
			if err != nil {
				b.Fatal(err)
			}
			val := make([]byte, 1024)
			for range 20 {
				if err := v.Put(ctx, "cred-00042", val); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				if err := v.Put(ctx, "cred-00042", val); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
