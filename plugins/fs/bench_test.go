package fs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
)

// benchKeys is the size of the directory the listing benchmarks page
// through (issue 15: revoke of 100,000 credentials on fs).
const benchKeys = 100_000

// fillDir writes n data files straight into one directory of a data dir (as
// the store lays them out) and opens a Store over it.
func fillDir(b *testing.B, n int) *fs.Store {
	b.Helper()
	root := b.TempDir()
	d := filepath.Join(root, "v+", "r+")
	if err := os.MkdirAll(d, 0o700); err != nil {
		b.Fatal(err)
	}
	s, err := fs.Open(root)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	// One Put makes the directory's files through the store; the rest are
	// copies of its bytes (a 100,000-file fsync per file would take minutes).
	if _, err := s.Put(ctx, "v/r/k000000", make([]byte, 64), sdk.None); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(d, "k000000"))
	if err != nil {
		b.Fatal(err)
	}
	for i := 1; i < n; i++ {
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("k%06d", i)), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	// Reopen: the files above were written behind the store's back.
	s.Close()
	if s, err = fs.Open(root); err != nil {
		b.Fatal(err)
	}
	return s
}

// listAllPages pages through prefix with the given list function and
// returns the number of keys.
func listAllPages(b *testing.B, list func(sdk.ListOptions) (sdk.Page, error), prefix string) int {
	opts := sdk.ListOptions{Prefix: prefix, Limit: sdk.MaxListLimit}
	n := 0
	for {
		p, err := list(opts)
		if err != nil {
			b.Fatal(err)
		}
		n += len(p.Entries)
		if !p.More {
			return n
		}
		opts.StartAfter = p.Entries[len(p.Entries)-1].Key
	}
}

// BenchmarkListDirectory pages through a directory of 100,000 keys, 1,000 a
// page: "index" is the store's List; "readdir" is the listing before the
// index (read and sort the whole directory for every page, then read the
// page's headers), reproduced here for the ratio in one run.
func BenchmarkListDirectory(b *testing.B) {
	s := fillDir(b, benchKeys)
	ctx := context.Background()
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			if n := listAllPages(b, func(o sdk.ListOptions) (sdk.Page, error) { return s.List(ctx, o) }, "v/r/"); n != benchKeys {
				b.Fatalf("listed %d keys, want %d", n, benchKeys)
			}
		}
	})
	dir := filepath.Join(s.Root(), "v+", "r+")
	b.Run("readdir", func(b *testing.B) {
		for b.Loop() {
			if n := listAllPages(b, func(o sdk.ListOptions) (sdk.Page, error) { return readdirPage(dir, "v/r/", o) }, "v/r/"); n != benchKeys {
				b.Fatalf("listed %d keys, want %d", n, benchKeys)
			}
		}
	})
}

// readdirPage is the fs plugin's listing of one flat directory before the
// index: read every name, keep those after the cursor, sort, read headers.
func readdirPage(dir, base string, o sdk.ListOptions) (sdk.Page, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return sdk.Page{}, err
	}
	var ks []string
	for _, e := range ents {
		if k := base + e.Name(); !strings.HasPrefix(e.Name(), "#") && k > o.StartAfter {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	var p sdk.Page
	if len(ks) > o.Limit {
		ks, p.More = ks[:o.Limit], true
	}
	hdr := make([]byte, 20)
	for _, k := range ks {
		f, err := os.Open(filepath.Join(dir, strings.TrimPrefix(k, base)))
		if err != nil {
			return sdk.Page{}, err
		}
		_, err = f.Read(hdr)
		f.Close()
		if err != nil {
			return sdk.Page{}, err
		}
		p.Entries = append(p.Entries, sdk.Entry{Key: k, Version: sdk.Version(fmt.Sprintf("%x", hdr[4:]))})
	}
	return p, nil
}

// BenchmarkGuardedBatch runs eight writers, each putting its own key of one
// vault in a batch of one, with and without a guard on the vault's head
// (what the engine's put sends). The guard's lock stripe is held shared, so
// guarded batches should cost about what unguarded ones do; reported as the
// p50 of a write.
func BenchmarkGuardedBatch(b *testing.B) {
	s, err := fs.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	head, err := s.Put(ctx, "v/head", []byte("h"), sdk.None)
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 2048)
	const writers = 8
	vers := make([]sdk.Version, writers)
	for w := range vers {
		if vers[w], err = s.Put(ctx, fmt.Sprintf("v/r/cred-%d", w), value, sdk.None); err != nil {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, guard *sdk.Guard) {
		lat := make([][]time.Duration, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range max(b.N/writers, 1) {
					t0 := time.Now()
					res, err := s.WriteBatch(ctx, guard, []sdk.Write{{Kind: sdk.WritePut, Key: fmt.Sprintf("v/r/cred-%d", w), Value: value, Cond: sdk.IfVersion(vers[w])}})
					if err == nil {
						err = res[0].Err
					}
					if err != nil {
						b.Error(err)
						return
					}
					vers[w] = res[0].Version
					lat[w] = append(lat[w], time.Since(t0))
				}
			}()
		}
		wg.Wait()
		all := slices.Concat(lat...)
		slices.Sort(all)
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-us")
	}
	b.Run("c8/unguarded", func(b *testing.B) { run(b, nil) })
	b.Run("c8/guarded", func(b *testing.B) { run(b, &sdk.Guard{Key: "v/head", Version: head}) })
}
