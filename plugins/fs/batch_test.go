package fs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
)

// Batches over two handles of one directory whose guards and items share
// lock stripes in opposite roles finish (no deadlock), and each item ends at
// exactly one batch's value.
func TestBatchNoDeadlock(t *testing.T) {
	dir := t.TempDir()
	a, err := fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	heads := map[string]sdk.Version{}
	for _, g := range []string{"g/one", "g/two"} {
		v, err := a.Put(ctx, g, []byte("head"), sdk.None)
		if err != nil {
			t.Fatal(err)
		}
		heads[g] = v
	}
	// Each batch writes the other guard's neighbourhood: 64 items cover
	// most stripes, including the other guard's.
	items := func(tag string) []sdk.Write {
		var ws []sdk.Write
		for i := 0; i < 64; i++ {
			ws = append(ws, sdk.Write{Kind: sdk.WritePut, Key: fmt.Sprintf("i/%d", i), Value: []byte(tag)})
		}
		return ws
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for n := 0; n < 20; n++ {
		for _, g := range []string{"g/one", "g/two"} {
			wg.Add(1)
			go func(st *fs.Store, g string) {
				defer wg.Done()
				res, err := st.WriteBatch(ctx, &sdk.Guard{Key: g, Version: heads[g]}, items(g))
				if err == nil {
					for _, r := range res {
						if r.Err != nil {
							err = r.Err
						}
					}
				}
				if err != nil {
					errs <- err
				}
			}(map[string]*fs.Store{"g/one": a, "g/two": b}[g], g)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("batches did not finish within 60s: deadlock")
	}
	close(errs)
	for err := range errs {
		t.Errorf("batch: %v", err)
	}
	for i := 0; i < 64; i++ {
		v, _, err := a.Get(ctx, fmt.Sprintf("i/%d", i))
		if err != nil || (string(v) != "g/one" && string(v) != "g/two") {
			t.Fatalf("i/%d = %q, %v", i, v, err)
		}
	}
}

// Two handles of one directory see each other's creates and deletes in
// listings at once, although each keeps an index of the directory.
func TestListIndexAcrossHandles(t *testing.T) {
	dir := t.TempDir()
	a, err := fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	var want []string
	for i := 0; i < 50; i++ {
		k := fmt.Sprintf("d/k%03d", i)
		want = append(want, k)
		if _, err := a.Put(ctx, k, []byte("v"), sdk.None); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string) {
		t.Helper()
		for name, s := range map[string]*fs.Store{"a": a, "b": b} {
			for _, limit := range []int{1, 7, 1000} {
				if got := keys(t, s, sdk.ListOptions{Prefix: "d/", Limit: limit}); !slices.Equal(got, want) {
					t.Fatalf("%s: handle %s, limit %d lists %q, want %q", what, name, limit, got, want)
				}
			}
		}
	}
	check("initial")
	for i := 0; i < 10; i++ {
		// Alternate writers; each change must show on both handles.
		w := []*fs.Store{a, b}[i%2]
		k := fmt.Sprintf("d/k%03d", 100+i)
		if _, err := w.Put(ctx, k, []byte("v"), sdk.IfAbsent()); err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
		slices.Sort(want)
		check(fmt.Sprintf("after create %d", i))
		del := want[0]
		if err := w.Delete(ctx, del, sdk.None); err != nil {
			t.Fatal(err)
		}
		want = want[1:]
		check(fmt.Sprintf("after delete %d", i))
		res, err := w.WriteBatch(ctx, nil, []sdk.Write{
			{Kind: sdk.WritePut, Key: fmt.Sprintf("d/k%03d", 200+i), Value: []byte("b")},
			{Kind: sdk.WriteDelete, Key: want[0]},
			{Kind: sdk.WritePut, Key: fmt.Sprintf("d/sub%d/x", i), Value: []byte("b")},
		})
		if err != nil || res[0].Err != nil || res[1].Err != nil || res[2].Err != nil {
			t.Fatalf("batch: %v %v", res, err)
		}
		want = append(want[1:], fmt.Sprintf("d/k%03d", 200+i), fmt.Sprintf("d/sub%d/x", i))
		slices.Sort(want)
		check(fmt.Sprintf("after batch %d", i))
	}
}

// A data directory written before the listing counters existed (no
// #locks/gen) lists correctly; so does one whose counters file was removed.
func TestListWithoutCounters(t *testing.T) {
	dir := t.TempDir()
	s, err := fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		if _, err := s.Put(ctx, fmt.Sprintf("x/%02d", i), []byte("v"), sdk.None); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if err := os.Remove(filepath.Join(dir, "#locks", "gen")); err != nil {
		t.Fatal(err)
	}
	s, err = fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := keys(t, s, sdk.ListOptions{Prefix: "x/", Limit: 4})
	if len(got) != 30 || got[0] != "x/00" || got[29] != "x/29" {
		t.Fatalf("listing without counters = %q", got)
	}
	if !strings.HasPrefix(got[1], "x/01") {
		t.Fatalf("order: %q", got)
	}
}
