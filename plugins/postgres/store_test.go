package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/jackc/pgx/v5"
)

func versionNum(t *testing.T, v sdk.Version) int64 {
	t.Helper()
	n, ok := parseVersion(v)
	if !ok {
		t.Fatalf("version %q is not a canonical positive decimal", v)
	}
	return n
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) || sdk.Kind(err) != kind {
		t.Fatalf("%s: got %v (kind %v), want %v", what, err, sdk.Kind(err), kind)
	}
}

func wantValue(t *testing.T, s sdk.Store, key string, value []byte, version sdk.Version) {
	t.Helper()
	got, v, err := s.Get(ctxT(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, value) || v != version {
		t.Fatalf("Get(%q) = %q @%s, want %q @%s", key, got, v, value, version)
	}
}

func TestCRUDAndCompareAndSwap(t *testing.T) {
	db := newTestDB(t, nil)
	s := db.open(t, nil)
	ctx := ctxT(t)

	_, _, err := s.Get(ctx, "a/b")
	wantKind(t, "Get missing", err, sdk.ErrNotFound)
	if !strings.Contains(err.Error(), `"a/b"`) {
		t.Errorf("not-found error %q does not name the key", err)
	}

	v1 := mustPut(t, s, "a/b", []byte("one"), sdk.None)
	wantValue(t, s, "a/b", []byte("one"), v1)

	// A rewrite of identical bytes gets a new, greater version.
	v2 := mustPut(t, s, "a/b", []byte("one"), sdk.None)
	if versionNum(t, v2) <= versionNum(t, v1) {
		t.Fatalf("rewrite: version %s not after %s", v2, v1)
	}
	wantValue(t, s, "a/b", []byte("one"), v2)

	// IfAbsent on an existing key: conflict, value untouched.
	_, err = s.Put(ctx, "a/b", []byte("two"), sdk.IfAbsent())
	wantKind(t, "IfAbsent on existing", err, sdk.ErrConflict)
	wantValue(t, s, "a/b", []byte("one"), v2)

	// IfAbsent on a new key.
	vc := mustPut(t, s, "a/c", []byte("c"), sdk.IfAbsent())
	wantValue(t, s, "a/c", []byte("c"), vc)

	// IfVersion with the current version.
	v3 := mustPut(t, s, "a/b", []byte("three"), sdk.IfVersion(v2))
	if versionNum(t, v3) <= versionNum(t, v2) {
		t.Fatalf("if-version write: version %s not after %s", v3, v2)
	}
	wantValue(t, s, "a/b", []byte("three"), v3)

	// IfVersion with a stale or foreign version: conflict, untouched.
	for _, stale := range []sdk.Version{v2, v1, "0", "007", "not-a-number", sdk.Version(strconv.FormatInt(versionNum(t, v3)+1000, 10))} {
		_, err = s.Put(ctx, "a/b", []byte("nope"), sdk.IfVersion(stale))
		wantKind(t, "IfVersion("+string(stale)+")", err, sdk.ErrConflict)
	}
	wantValue(t, s, "a/b", []byte("three"), v3)

	// IfVersion on a missing key: not found, and nothing is created.
	_, err = s.Put(ctx, "a/missing", []byte("x"), sdk.IfVersion(v3))
	wantKind(t, "IfVersion on missing", err, sdk.ErrNotFound)
	_, _, err = s.Get(ctx, "a/missing")
	wantKind(t, "Get after failed IfVersion", err, sdk.ErrNotFound)

	// Guarded delete.
	wantKind(t, "Delete stale", s.Delete(ctx, "a/b", sdk.IfVersion(v2)), sdk.ErrConflict)
	wantValue(t, s, "a/b", []byte("three"), v3)
	wantKind(t, "Delete IfVersion missing", s.Delete(ctx, "a/missing", sdk.IfVersion(v3)), sdk.ErrNotFound)
	if err := s.Delete(ctx, "a/b", sdk.IfVersion(v3)); err != nil {
		t.Fatalf("Delete current: %v", err)
	}
	_, _, err = s.Get(ctx, "a/b")
	wantKind(t, "Get after delete", err, sdk.ErrNotFound)

	// Unconditional delete: of a missing key is nil; of an existing key deletes.
	if err := s.Delete(ctx, "a/b", sdk.None); err != nil {
		t.Fatalf("Delete missing: %v", err)
	}
	if err := s.Delete(ctx, "a/c", sdk.None); err != nil {
		t.Fatalf("Delete a/c: %v", err)
	}
	_, _, err = s.Get(ctx, "a/c")
	wantKind(t, "Get after unconditional delete", err, sdk.ErrNotFound)

	// Re-create after delete never reuses a version.
	v4 := mustPut(t, s, "a/b", []byte("one"), sdk.IfAbsent())
	for _, old := range []sdk.Version{v1, v2, v3, vc} {
		if v4 == old || versionNum(t, v4) <= versionNum(t, old) {
			t.Fatalf("re-created key has version %s, not after %s", v4, old)
		}
	}
	// The old version does not match the re-created key.
	_, err = s.Put(ctx, "a/b", []byte("x"), sdk.IfVersion(v1))
	wantKind(t, "IfVersion(old) after re-create", err, sdk.ErrConflict)
}

func TestValues(t *testing.T) {
	db := newTestDB(t, nil)
	s := db.open(t, nil)
	ctx := ctxT(t)

	// Empty and nil values are stored as 0 bytes.
	for _, v := range [][]byte{nil, {}} {
		ver := mustPut(t, s, "empty", v, sdk.None)
		got, gv, err := s.Get(ctx, "empty")
		if err != nil || got == nil || len(got) != 0 || gv != ver {
			t.Fatalf("Get(empty) = %v, %q, %v; want a non-nil empty value @%s", got, gv, err, ver)
		}
	}
	// Every byte value survives.
	all := make([]byte, 512)
	for i := range all {
		all[i] = byte(i)
	}
	ver := mustPut(t, s, "bytes", all, sdk.None)
	wantValue(t, s, "bytes", all, ver)

	// The maximum size fits.
	max := bytes.Repeat([]byte{0xa5}, sdk.MaxValueSize)
	ver = mustPut(t, s, "max", max, sdk.None)
	wantValue(t, s, "max", max, ver)

	// Put does not retain the caller's slice.
	buf := []byte("original")
	ver = mustPut(t, s, "retain", buf, sdk.None)
	copy(buf, "XXXXXXXX")
	wantValue(t, s, "retain", []byte("original"), ver)

	// The caller owns Get's slice.
	got, _, _ := s.Get(ctx, "retain")
	got[0] = 'Z'
	wantValue(t, s, "retain", []byte("original"), ver)

	if c := s.Capabilities(); !c.NativeListValues || c.MaxValueSize != sdk.MaxValueSize {
		t.Errorf("capabilities %+v", c)
	}
}

// TestConcurrentCompareAndSwap: goroutines increment a counter with
// if-version writes; exactly the successful writes count.
func TestConcurrentCompareAndSwap(t *testing.T) {
	db := newTestDB(t, nil)
	s := db.open(t, map[string]string{"max_conns": "8"})
	ctx := ctxT(t)
	mustPut(t, s, "counter", []byte("0"), sdk.IfAbsent())

	const workers, tries = 6, 25
	var mu sync.Mutex
	wins, conflicts := 0, 0
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < tries; i++ {
				val, ver, err := s.Get(ctx, "counter")
				if err != nil {
					errc <- err
					return
				}
				n, _ := strconv.Atoi(string(val))
				_, err = s.Put(ctx, "counter", []byte(strconv.Itoa(n+1)), sdk.IfVersion(ver))
				mu.Lock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, sdk.ErrConflict):
					conflicts++
				default:
					mu.Unlock()
					errc <- err
					return
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	val, _, err := s.Get(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if string(val) != strconv.Itoa(wins) {
		t.Fatalf("counter is %s after %d successful compare-and-swaps (%d conflicts)", val, wins, conflicts)
	}
	if wins+conflicts != workers*tries || wins == 0 {
		t.Fatalf("%d wins + %d conflicts, want %d attempts", wins, conflicts, workers*tries)
	}
	t.Logf("%d compare-and-swap wins, %d conflicts", wins, conflicts)
}

// listAll pages through a listing with a small limit, checking each page.
func listAll(t *testing.T, s sdk.Store, prefix string, limit int, withValues bool) []sdk.Entry {
	t.Helper()
	var all []sdk.Entry
	opts := sdk.ListOptions{Prefix: prefix, Limit: limit, WithValues: withValues}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("listing does not end")
		}
		p, err := sdk.Checked(s).List(ctxT(t), opts)
		if err != nil {
			t.Fatalf("List(%+v): %v", opts, err)
		}
		if len(p.Entries) > limit {
			t.Fatalf("page of %d entries, limit %d", len(p.Entries), limit)
		}
		all = append(all, p.Entries...)
		if !p.More {
			return all
		}
		if len(p.Entries) == 0 {
			t.Fatalf("empty page with More set")
		}
		opts.StartAfter = p.Entries[len(p.Entries)-1].Key
	}
}

func keysOf(es []sdk.Entry) []string {
	var ks []string
	for _, e := range es {
		ks = append(ks, e.Key)
	}
	return ks
}

// TestListByteOrderUnderICUCollation lists in a database whose default
// collation (ICU en-US) orders these keys differently from bytes, proving the
// order is the key column's "C" collation and the prefix match is not LIKE.
func TestListByteOrderUnderICUCollation(t *testing.T) {
	db := newTestDB(t, &testenv.PGDatabaseOptions{ICULocale: "en-US"})
	c := db.conn(t)
	ctx := ctxT(t)

	keys := []string{"a-b", "a.b", "a/b", "a0", "a_b", "ab", "a_", "a_/x", "a-", "b", "a9/z", "aa", "a", "a_b/c", "az"}
	// The database's own collation must disagree with byte order for this
	// test to prove anything.
	var icuFirst string
	if err := c.QueryRow(ctx, `SELECT k FROM unnest($1::text[]) AS k ORDER BY k LIMIT 1`, keys).Scan(&icuFirst); err != nil {
		t.Fatal(err)
	}
	var dbOrder []string
	rows, err := c.Query(ctx, `SELECT k FROM unnest($1::text[]) AS k ORDER BY k`, keys)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		dbOrder = append(dbOrder, k)
	}
	rows.Close()
	want := append([]string(nil), keys...)
	sort.Strings(want)
	if strings.Join(dbOrder, " ") == strings.Join(want, " ") {
		t.Fatalf("the ICU database orders the keys in byte order (%v); the test proves nothing", dbOrder)
	}
	t.Logf("database collation order: %v", dbOrder)

	s := db.open(t, nil)
	vers := map[string]sdk.Version{}
	for i, k := range keys {
		vers[k] = mustPut(t, s, k, []byte("v"+strconv.Itoa(i)), sdk.None)
	}
	for _, limit := range []int{1, 2, 3, 100} {
		got := keysOf(listAll(t, s, "", limit, false))
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("limit %d: listed %v, want byte order %v", limit, got, want)
		}
	}
	// Prefixes with '_' (a LIKE wildcard) and '.' match literally.
	for prefix, wantKeys := range map[string][]string{
		"a_":  {"a_", "a_/x", "a_b", "a_b/c"},
		"a_b": {"a_b", "a_b/c"},
		"a.":  {"a.b"},
		"a-":  {"a-", "a-b"},
		"a/":  {"a/b"},
		"a9/": {"a9/z"},
		"b":   {"b"},
		"c":   nil,
	} {
		for _, limit := range []int{1, 1000} {
			got := keysOf(listAll(t, s, prefix, limit, false))
			if strings.Join(got, " ") != strings.Join(wantKeys, " ") {
				t.Errorf("prefix %q limit %d: listed %v, want %v", prefix, limit, got, wantKeys)
			}
		}
	}
	// StartAfter is byte-wise too, and need not exist.
	p, err := sdk.Checked(s).List(ctx, sdk.ListOptions{StartAfter: "a_", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keysOf(p.Entries), " "); got != "a_/x a_b a_b/c" || !p.More {
		t.Errorf("after a_: %q more=%v", got, p.More)
	}
	// StartAfter with bytes no key holds, even ones PostgreSQL text cannot
	// (NUL, invalid UTF-8), selects what byte order says.
	for _, after := range []string{"a0\x00", "a0\xff", "a0A", "a0~", "a9/z\x80", "a9/zz", "a9\xff", "\x00", "\xff", "a_b/c\xff", "b\x00", "{"} {
		var wantAfter []string
		for _, k := range want {
			if k > after {
				wantAfter = append(wantAfter, k)
			}
		}
		for _, limit := range []int{1, 1000} {
			p, err := sdk.Checked(s).List(ctx, sdk.ListOptions{StartAfter: after, Limit: limit})
			if err != nil {
				t.Fatalf("List after %q: %v", after, err)
			}
			if limit == 1 {
				if n := len(p.Entries); n != min(1, len(wantAfter)) || n > 0 && p.Entries[0].Key != wantAfter[0] || p.More != (len(wantAfter) > 1) {
					t.Errorf("after %q limit 1: %v more=%v, want first of %v", after, keysOf(p.Entries), p.More, wantAfter)
				}
				continue
			}
			got := keysOf(p.Entries)
			if strings.Join(got, " ") != strings.Join(wantAfter, " ") || p.More {
				t.Errorf("after %q: %v more=%v, want %v", after, got, p.More, wantAfter)
			}
		}
	}
	p, err = sdk.Checked(s).List(ctx, sdk.ListOptions{StartAfter: "a0a", Prefix: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keysOf(p.Entries), " "); got != "a9/z a_ a_/x a_b a_b/c aa ab az" || p.More {
		t.Errorf("after a0a prefix a: %q more=%v", got, p.More)
	}
}

func TestListPaginationAndValues(t *testing.T) {
	db := newTestDB(t, nil)
	s := db.open(t, nil)
	ctx := ctxT(t)

	p, err := sdk.Checked(s).List(ctx, sdk.ListOptions{})
	if err != nil || len(p.Entries) != 0 || p.More {
		t.Fatalf("empty store: %+v, %v", p, err)
	}

	want := map[string][]byte{}
	vers := map[string]sdk.Version{}
	for i := 0; i < 25; i++ {
		k := fmt.Sprintf("vault/%02d", i)
		want[k] = []byte(fmt.Sprintf("value-%d", i))
		vers[k] = mustPut(t, s, k, want[k], sdk.None)
	}
	mustPut(t, s, "vaulty", []byte("outside"), sdk.None)
	mustPut(t, s, "other/1", []byte("outside"), sdk.None)

	for _, withValues := range []bool{false, true} {
		for _, limit := range []int{1, 7, 25, 26, 1000} {
			got := listAll(t, s, "vault/", limit, withValues)
			if len(got) != 25 {
				t.Fatalf("limit %d: %d entries, want 25", limit, len(got))
			}
			for i, e := range got {
				k := fmt.Sprintf("vault/%02d", i)
				if e.Key != k || e.Version != vers[k] {
					t.Fatalf("entry %d: %s@%s, want %s@%s", i, e.Key, e.Version, k, vers[k])
				}
				if withValues && !bytes.Equal(e.Value, want[k]) {
					t.Fatalf("entry %s value %q, want %q", k, e.Value, want[k])
				}
				if !withValues && e.Value != nil {
					t.Fatalf("entry %s has a value without WithValues", k)
				}
			}
		}
	}
	// Exact page boundaries: 25 entries in pages of 5 give More on the
	// first four only... and the fifth says no more.
	opts := sdk.ListOptions{Prefix: "vault/", Limit: 5}
	for i := 0; i < 5; i++ {
		p, err := sdk.Checked(s).List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Entries) != 5 || p.More != (i < 4) {
			t.Fatalf("page %d: %d entries more=%v", i, len(p.Entries), p.More)
		}
		opts.StartAfter = p.Entries[4].Key
	}
	// Default limit and whole store.
	p, err = sdk.Checked(s).List(ctx, sdk.ListOptions{})
	if err != nil || len(p.Entries) != 27 || p.More {
		t.Fatalf("whole store: %d entries more=%v err=%v", len(p.Entries), p.More, err)
	}
	// Strong consistency: a delete is not listed, a put is.
	if err := s.Delete(ctx, "vault/03", sdk.None); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "vault/99", []byte("new"), sdk.None)
	got := keysOf(listAll(t, s, "vault/", 10, false))
	if len(got) != 25 || got[3] != "vault/04" || got[24] != "vault/99" {
		t.Fatalf("after delete+put: %v", got)
	}
	// sdk.Walk over the store.
	n := 0
	if err := sdk.Walk(ctx, s, "vault/", true, func(e sdk.Entry) error { n++; return nil }); err != nil || n != 25 {
		t.Fatalf("Walk: %d entries, %v", n, err)
	}
}

// TestCancellation: a Put blocked on a row lock returns the context's error
// when the deadline passes, the server stops running the statement, and the
// row is untouched.
func TestCancellation(t *testing.T) {
	db := newTestDB(t, nil)
	s := db.open(t, nil)
	v1 := mustPut(t, s, "locked", []byte("before"), sdk.None)

	c := db.conn(t)
	ctx := ctxT(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM aileron_store.blobs WHERE key = 'locked' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Put(short, "locked", []byte("after"), sdk.None)
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || sdk.Kind(err) != context.DeadlineExceeded {
		t.Fatalf("Put past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("Put took %v to notice its deadline", elapsed)
	}
	// The server no longer runs (or waits on) the statement.
	waitNoLockWaiter(t, c, db.name)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "locked", []byte("before"), v1)

	// An already canceled context: context.Canceled, nothing written.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, err = s.Put(done, "locked", []byte("after"), sdk.None)
	if sdk.Kind(err) != context.Canceled {
		t.Fatalf("Put with a canceled context: %v", err)
	}
	_, _, err = s.Get(done, "locked")
	if sdk.Kind(err) != context.Canceled {
		t.Fatalf("Get with a canceled context: %v", err)
	}
	_, err = sdk.Checked(s).List(done, sdk.ListOptions{})
	if sdk.Kind(err) != context.Canceled {
		t.Fatalf("List with a canceled context: %v", err)
	}
	wantValue(t, s, "locked", []byte("before"), v1)
}

// waitNoLockWaiter waits until no session of the store (application_name
// aileron-store) in database db waits on a lock: the canceled statement is
// gone from the server.
func waitNoLockWaiter(t *testing.T, c *pgx.Conn, db string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		err := c.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = $1 AND application_name = 'aileron-store' AND wait_event_type = 'Lock'`, db).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statements of the store still wait on the lock after their context ended", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
