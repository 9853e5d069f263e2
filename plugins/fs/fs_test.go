package fs_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func open(t *testing.T) *fs.Store {
	t.Helper()
	s, err := fs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func keys(t *testing.T, s sdk.Store, opts sdk.ListOptions) []string {
	t.Helper()
	var out []string
	for {
		page, err := sdk.Checked(s).List(context.Background(), opts)
		if err != nil {
			t.Fatalf("List(%+v): %v", opts, err)
		}
		for _, e := range page.Entries {
			out = append(out, e.Key)
			opts.StartAfter = e.Key
		}
		if !page.More {
			return out
		}
	}
}

// A key that is also the directory of other keys, and neighbours that sort
// between them, all coexist and list in byte order.
func TestLayoutAndOrder(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	all := []string{"a", "a/b", "a/b/c", "a-", "a-/x", "a.b", "a0", "a_", "b", "a/b-", "a/b.c", "z/z/z/z"}
	for _, k := range all {
		if _, err := s.Put(ctx, k, []byte("v:"+k), sdk.IfAbsent()); err != nil {
			t.Fatalf("Put %q: %v", k, err)
		}
	}
	want := append([]string{}, all...)
	sort.Strings(want)
	for limit := 1; limit <= len(all)+1; limit++ {
		if got := keys(t, s, sdk.ListOptions{Limit: limit}); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("limit %d: got %v, want %v", limit, got, want)
		}
	}
	for prefix, exp := range map[string][]string{
		"a/": {"a/b", "a/b-", "a/b.c", "a/b/c"}, "a-": {"a-", "a-/x"}, "a/b": {"a/b", "a/b-", "a/b.c", "a/b/c"},
		"a/b/": {"a/b/c"}, "q": nil, "z/z/": {"z/z/z/z"},
	} {
		if got := keys(t, s, sdk.ListOptions{Prefix: prefix}); strings.Join(got, " ") != strings.Join(exp, " ") {
			t.Errorf("prefix %q: got %v, want %v", prefix, got, exp)
		}
	}
	for _, k := range all {
		v, _, err := s.Get(ctx, k)
		if err != nil || string(v) != "v:"+k {
			t.Errorf("Get %q = %q, %v", k, v, err)
		}
	}
	// Start-after a key that does not exist, inside a subtree.
	if got := keys(t, s, sdk.ListOptions{StartAfter: "a/b/a"}); got[0] != "a/b/c" {
		t.Errorf("start-after a/b/a: got %v", got)
	}
}

func TestPermissionsAndTempFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Put(ctx, "v/x/r/k", []byte("secret-free"), sdk.None); err != nil {
		t.Fatal(err)
	}
	// A temporary file left by a crash in the middle of a write is not a key.
	if err := os.WriteFile(filepath.Join(dir, "v+", "x+", "r+", "#tmp-123"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, s, sdk.ListOptions{}); len(got) != 1 || got[0] != "v/x/r/k" {
		t.Fatalf("keys = %v", got)
	}
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		mode := fi.Mode().Perm()
		if fi.IsDir() && mode&0o077 != 0 || !fi.IsDir() && mode&0o077 != 0 {
			t.Errorf("%s has mode %v, want owner-only", p, mode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConfig(t *testing.T) {
	ctx := context.Background()
	if _, err := fs.New(ctx, nil); !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), `"path"`) {
		t.Errorf("no path: %v", err)
	}
	if _, err := fs.New(ctx, map[string]string{"path": t.TempDir(), "bucket": "x"}); !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), `"bucket"`) {
		t.Errorf("unknown field: %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := fs.New(ctx, map[string]string{"path": f}); err == nil || !strings.Contains(err.Error(), f) {
		t.Errorf("path is a file: %v", err)
	}
}

// Two Store values on one directory (as two hosts would have) race
// compare-and-swap from many goroutines: one winner per round.
func TestCASAcrossHandles(t *testing.T) {
	dir := t.TempDir()
	var stores []*fs.Store
	for i := 0; i < 2; i++ {
		s, err := fs.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		key := fmt.Sprintf("race/%d", round)
		base, err := stores[0].Put(ctx, key, []byte("base"), sdk.IfAbsent())
		if err != nil {
			t.Fatal(err)
		}
		var wins, absentWins int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				s := stores[g%2]
				_, err := s.Put(ctx, key, []byte(fmt.Sprint("w", g)), sdk.IfVersion(base))
				_, err2 := s.Put(ctx, key+"/new", []byte("x"), sdk.IfAbsent())
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins++
				} else if !errors.Is(err, sdk.ErrConflict) {
					t.Errorf("Put if-version: %v", err)
				}
				if err2 == nil {
					absentWins++
				} else if !errors.Is(err2, sdk.ErrConflict) {
					t.Errorf("Put if-absent: %v", err2)
				}
			}(g)
		}
		wg.Wait()
		if wins != 1 || absentWins != 1 {
			t.Fatalf("round %d: %d if-version winners and %d if-absent winners, want 1 and 1", round, wins, absentWins)
		}
	}
}

// Two OS processes, each with its own fs plugin process on one directory,
// race compare-and-swap: exactly one winner per round.
func TestCASAcrossProcesses(t *testing.T) {
	if os.Getenv("FS_RACER") != "" {
		racer()
		return
	}
	bin := testenv.Binary(t, "./plugins/fs/cmd/aileron-store-fs")
	dir := t.TempDir()
	ctx := context.Background()
	c, err := sdk.Open(ctx, bin, map[string]string{"path": dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const rounds = 30
	var versions []string
	for r := 0; r < rounds; r++ {
		v, err := c.Put(ctx, fmt.Sprintf("race/%d", r), []byte("base"), sdk.IfAbsent())
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, string(v))
	}
	start := time.Now().Add(1500 * time.Millisecond).UnixNano()
	type result struct {
		out []byte
		err error
	}
	results := make(chan result, 2)
	for i := 0; i < 2; i++ {
		cmd := testenv.Command(os.Args[0], "-test.run=^TestCASAcrossProcesses$")
		cmd.Env = append(os.Environ(), "FS_RACER="+strconv.Itoa(i), "FS_BIN="+bin, "FS_DIR="+dir,
			"FS_START="+strconv.FormatInt(start, 10), "FS_VERSIONS="+strings.Join(versions, ","))
		go func() {
			out, err := cmd.Output()
			results <- result{out, err}
		}()
	}
	wins := make([]int, rounds)
	absent := make([]int, rounds)
	for i := 0; i < 2; i++ {
		res := <-results
		if res.err != nil {
			t.Fatalf("racer process: %v\n%s", res.err, res.out)
		}
		sc := bufio.NewScanner(strings.NewReader(string(res.out)))
		for sc.Scan() {
			var kind string
			var r int
			if n, _ := fmt.Sscanf(sc.Text(), "won %s %d", &kind, &r); n != 2 {
				continue
			}
			if kind == "version" {
				wins[r]++
			} else {
				absent[r]++
			}
		}
	}
	for r := 0; r < rounds; r++ {
		if wins[r] != 1 || absent[r] != 1 {
			t.Errorf("round %d: %d if-version winners, %d if-absent winners; want exactly 1 each", r, wins[r], absent[r])
		}
	}
}

// racer is the child side of TestCASAcrossProcesses.
func racer() {
	ctx := context.Background()
	c, err := sdk.Open(ctx, os.Getenv("FS_BIN"), map[string]string{"path": os.Getenv("FS_DIR")}, nil)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	defer c.Close()
	start, _ := strconv.ParseInt(os.Getenv("FS_START"), 10, 64)
	time.Sleep(time.Until(time.Unix(0, start)))
	for r, v := range strings.Split(os.Getenv("FS_VERSIONS"), ",") {
		key := fmt.Sprintf("race/%d", r)
		me := os.Getenv("FS_RACER")
		if _, err := c.Put(ctx, key, []byte("racer "+me), sdk.IfVersion(sdk.Version(v))); err == nil {
			fmt.Println("won version", r)
		} else if !errors.Is(err, sdk.ErrConflict) {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		if _, err := c.Put(ctx, key+"/new", []byte("racer "+me), sdk.IfAbsent()); err == nil {
			fmt.Println("won absent", r)
		} else if !errors.Is(err, sdk.ErrConflict) {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
}
