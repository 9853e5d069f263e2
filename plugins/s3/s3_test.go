package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newStore opens a Store on a fresh bucket of the shared versitygw, with
// extra config fields (key, value pairs).
func newStore(t *testing.T, kv ...string) (*Store, testenv.S3Server, string) {
	t.Helper()
	srv := testenv.S3(t)
	bucket := srv.NewBucket(t)
	cfg := srv.Config(bucket)
	for i := 0; i < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	s, err := open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, srv, bucket
}

// modes runs fn against a store in each conditional-delete mode reachable on
// versitygw: auto (which probes to tombstone-then-delete-if-match), tombstone
// (as used on MinIO), and delete-if-match (as used on AWS; forced, since
// versitygw answers 204 rather than 404 for a conditional delete of a
// missing key, fn must not rely on that case there).
func modes(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Run("auto", func(t *testing.T) {
		s, _, _ := newStore(t, "prefix", "vaults")
		if s.delMode != delTombThenDelete {
			t.Fatalf("versitygw probed as %v, want %v", s.delMode, delTombThenDelete)
		}
		fn(t, s)
	})
	t.Run("tombstone", func(t *testing.T) {
		s, _, _ := newStore(t, "conditional_delete", "tombstone")
		if s.delMode != delTombstone {
			t.Fatalf("mode %v", s.delMode)
		}
		fn(t, s)
	})
}

func mustPut(t *testing.T, s sdk.Store, key, value string, cond sdk.Cond) sdk.Version {
	t.Helper()
	v, err := s.Put(context.Background(), key, []byte(value), cond)
	if err != nil {
		t.Fatalf("put %q %v: %v", key, cond, err)
	}
	if v == "" {
		t.Fatalf("put %q: empty version", key)
	}
	return v
}

func wantGet(t *testing.T, s sdk.Store, key, value string, ver sdk.Version) {
	t.Helper()
	got, v, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	if string(got) != value || (ver != "" && v != ver) {
		t.Fatalf("get %q = %q@%s, want %q@%s", key, got, v, value, ver)
	}
}

func wantErr(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: err = %v, want %v", what, err, kind)
	}
}

func TestGetPutDelete(t *testing.T) {
	modes(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, _, err := s.Get(ctx, "missing")
		wantErr(t, "get missing", err, sdk.ErrNotFound)
		if !strings.Contains(err.Error(), `"missing"`) {
			t.Fatalf("error %q does not name the key", err)
		}
		v1 := mustPut(t, s, "a/b", "one", sdk.None)
		wantGet(t, s, "a/b", "one", v1)
		v2 := mustPut(t, s, "a/b", "two", sdk.None)
		if v2 == v1 {
			t.Fatal("overwrite kept the version")
		}
		wantGet(t, s, "a/b", "two", v2)
		// Empty and maximum-size values.
		mustPut(t, s, "empty", "", sdk.None)
		wantGet(t, s, "empty", "", "")
		big := bytes.Repeat([]byte{0xa5}, sdk.MaxValueSize)
		if _, err := s.Put(ctx, "big", big, sdk.None); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.Get(ctx, "big")
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("big value: %d bytes, %v", len(got), err)
		}
		// Delete, then delete again (idempotent).
		if err := s.Delete(ctx, "a/b", sdk.None); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Get(ctx, "a/b")
		wantErr(t, "get deleted", err, sdk.ErrNotFound)
		if err := s.Delete(ctx, "a/b", sdk.None); err != nil {
			t.Fatalf("delete missing: %v", err)
		}
		// Invalid arguments never reach the server.
		_, err = s.Put(ctx, "Bad", nil, sdk.None)
		wantErr(t, "bad key", err, sdk.ErrInvalidArgument)
		_, _, err = s.Get(ctx, "a//b")
		wantErr(t, "bad key", err, sdk.ErrInvalidArgument)
		wantErr(t, "delete if-absent", s.Delete(ctx, "empty", sdk.IfAbsent()), sdk.ErrInvalidArgument)
		_, err = s.Put(ctx, "k", nil, sdk.IfVersion(""))
		wantErr(t, "empty version", err, sdk.ErrInvalidArgument)
		_, err = sdk.Checked(s).List(ctx, sdk.ListOptions{Limit: 1001})
		wantErr(t, "list limit", err, sdk.ErrInvalidArgument)
	})
}

func TestCompareAndSwap(t *testing.T) {
	modes(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		v1 := mustPut(t, s, "k", "one", sdk.IfAbsent())
		_, err := s.Put(ctx, "k", []byte("x"), sdk.IfAbsent())
		wantErr(t, "if-absent on existing", err, sdk.ErrConflict)
		wantGet(t, s, "k", "one", v1)

		v2 := mustPut(t, s, "k", "two", sdk.IfVersion(v1))
		_, err = s.Put(ctx, "k", []byte("x"), sdk.IfVersion(v1))
		wantErr(t, "stale if-version", err, sdk.ErrConflict)
		wantGet(t, s, "k", "two", v2)

		_, err = s.Put(ctx, "nokey", []byte("x"), sdk.IfVersion(v2))
		wantErr(t, "if-version on missing", err, sdk.ErrNotFound)
		_, _, err = s.Get(ctx, "nokey")
		wantErr(t, "if-version on missing created it", err, sdk.ErrNotFound)

		// Versions that cannot be ETags: a conflict, never a malformed request.
		for _, bad := range []sdk.Version{`"quoted"`, "new\nline", sdk.Version(strings.Repeat("f", 300))} {
			_, err = s.Put(ctx, "k", []byte("x"), sdk.IfVersion(bad))
			wantErr(t, fmt.Sprintf("put if-version(%q)", bad), err, sdk.ErrConflict)
			wantErr(t, fmt.Sprintf("delete if-version(%q)", bad), s.Delete(ctx, "k", sdk.IfVersion(bad)), sdk.ErrConflict)
			_, err = s.Put(ctx, "nokey", []byte("x"), sdk.IfVersion(bad))
			wantErr(t, fmt.Sprintf("put missing if-version(%q)", bad), err, sdk.ErrNotFound)
		}
		wantGet(t, s, "k", "two", v2)

		wantErr(t, "delete stale", s.Delete(ctx, "k", sdk.IfVersion(v1)), sdk.ErrConflict)
		wantGet(t, s, "k", "two", v2)
		if err := s.Delete(ctx, "k", sdk.IfVersion(v2)); err != nil {
			t.Fatalf("delete if-version current: %v", err)
		}
		_, _, err = s.Get(ctx, "k")
		wantErr(t, "get after conditional delete", err, sdk.ErrNotFound)
		wantErr(t, "delete missing if-version", s.Delete(ctx, "k", sdk.IfVersion(v2)), sdk.ErrNotFound)
		_, err = s.Put(ctx, "k", []byte("x"), sdk.IfVersion(v2))
		wantErr(t, "put if-version after delete", err, sdk.ErrNotFound)

		// The key is absent again: if-absent succeeds (over a tombstone in
		// tombstone mode), exactly once.
		v3 := mustPut(t, s, "k", "three", sdk.IfAbsent())
		_, err = s.Put(ctx, "k", []byte("x"), sdk.IfAbsent())
		wantErr(t, "second if-absent", err, sdk.ErrConflict)
		wantGet(t, s, "k", "three", v3)
		page, err := sdk.Checked(s).List(ctx, sdk.ListOptions{})
		if err != nil || len(page.Entries) != 1 || page.Entries[0].Key != "k" || page.Entries[0].Version != v3 {
			t.Fatalf("list after cas: %+v, %v", page, err)
		}
	})
}

// TestDeleteIfMatchMode covers the AWS delete path (DeleteObject If-Match
// alone) on versitygw, except a missing key, which versitygw answers with 204.
func TestDeleteIfMatchMode(t *testing.T) {
	s, _, _ := newStore(t)
	s.delMode = delIfMatch
	ctx := context.Background()
	v1 := mustPut(t, s, "k", "one", sdk.None)
	v2 := mustPut(t, s, "k", "two", sdk.None)
	wantErr(t, "delete stale", s.Delete(ctx, "k", sdk.IfVersion(v1)), sdk.ErrConflict)
	wantGet(t, s, "k", "two", v2)
	if err := s.Delete(ctx, "k", sdk.IfVersion(v2)); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Get(ctx, "k")
	wantErr(t, "get deleted", err, sdk.ErrNotFound)
}

func TestTombstones(t *testing.T) {
	s, srv, bucket := newStore(t, "conditional_delete", "tombstone", "prefix", "t")
	ctx := context.Background()
	raw := srv.Client(t)
	v := mustPut(t, s, "a/k", "v", sdk.None)
	if err := s.Delete(ctx, "a/k", sdk.IfVersion(v)); err != nil {
		t.Fatal(err)
	}
	// The object is a tombstone now, invisible through the Store.
	info, err := raw.StatObject(ctx, bucket, "t/a/k!", minio.StatObjectOptions{})
	if err != nil || info.Size != tombstoneLen {
		t.Fatalf("tombstone object: %+v, %v", info, err)
	}
	for _, wv := range []bool{false, true} {
		page, err := sdk.Checked(s).List(ctx, sdk.ListOptions{WithValues: wv})
		if err != nil || len(page.Entries) != 0 || page.More {
			t.Fatalf("list over a tombstone (values %v): %+v, %v", wv, page, err)
		}
	}
	// An unconditional delete removes the tombstone.
	if err := s.Delete(ctx, "a/k", sdk.None); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.StatObject(ctx, bucket, "t/a/k!", minio.StatObjectOptions{}); err == nil {
		t.Fatal("tombstone survived an unconditional delete")
	}
	// Tombstone-then-delete mode leaves nothing behind.
	s2, _, bucket2 := newStore(t)
	v = mustPut(t, s2, "k", "v", sdk.None)
	if err := s2.Delete(ctx, "k", sdk.IfVersion(v)); err != nil {
		t.Fatal(err)
	}
	for o := range raw.ListObjects(ctx, bucket2, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		t.Errorf("object %q left after a conditional delete", o.Key)
	}
}

// TestIdenticalBytesNewVersion: a rewrite of identical bytes yields a new
// version, so a compare-and-swap holding the old version fails (ABA).
func TestIdenticalBytesNewVersion(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	v1 := mustPut(t, s, "k", "same", sdk.None)
	v2 := mustPut(t, s, "k", "same", sdk.None)
	v3 := mustPut(t, s, "k", "same", sdk.IfVersion(v2))
	if v1 == v2 || v2 == v3 || v1 == v3 {
		t.Fatalf("identical rewrites share versions: %s %s %s", v1, v2, v3)
	}
	_, err := s.Put(ctx, "k", []byte("same"), sdk.IfVersion(v1))
	wantErr(t, "ABA put", err, sdk.ErrConflict)
	wantErr(t, "ABA delete", s.Delete(ctx, "k", sdk.IfVersion(v2)), sdk.ErrConflict)
	wantGet(t, s, "k", "same", v3)
}

// TestObjectAndPrefixKeys: "a" and "a/b" coexist although versitygw's posix
// backend cannot hold a file and a directory of one name (see nameSuffix), and
// List orders keys byte-wise across what are directories on disk.
func TestObjectAndPrefixKeys(t *testing.T) {
	modes(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		keys := []string{"a", "a/b", "a/b/c", "a-b", "a.b", "a0", "a_b", "aa", "b", "a/b-c", "a/b.c", "a/b/c/d"}
		for i, k := range keys {
			mustPut(t, s, k, "v"+strconv.Itoa(i), sdk.IfAbsent())
		}
		for i, k := range keys {
			wantGet(t, s, k, "v"+strconv.Itoa(i), "")
		}
		want := append([]string(nil), keys...)
		sort.Strings(want)
		for _, limit := range []int{sdk.DefaultListLimit, 1, 3, 5} {
			var got []string
			err := sdk.Walk(ctx, limitStore{s, limit}, "", false, func(e sdk.Entry) error {
				got = append(got, e.Key)
				return nil
			})
			if err != nil || strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("limit %d: walk = %v, %v; want %v", limit, got, err, want)
			}
		}
		// Prefix "a/" lists the keys under the directory, not "a" itself.
		page, err := sdk.Checked(s).List(ctx, sdk.ListOptions{Prefix: "a/"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range page.Entries {
			got = append(got, e.Key)
		}
		if strings.Join(got, " ") != "a/b a/b-c a/b.c a/b/c a/b/c/d" || page.More {
			t.Fatalf("prefix a/: %v more=%v", got, page.More)
		}
		// Deleting "a" keeps "a/b" and vice versa.
		if err := s.Delete(ctx, "a", sdk.None); err != nil {
			t.Fatal(err)
		}
		wantGet(t, s, "a/b", "v1", "")
		if err := s.Delete(ctx, "a/b/c/d", sdk.None); err != nil {
			t.Fatal(err)
		}
		wantGet(t, s, "a/b/c", "v2", "")
	})
}

// limitStore forces a page size on List, for Walk.
type limitStore struct {
	*Store
	limit int
}

func (l limitStore) List(ctx context.Context, o sdk.ListOptions) (sdk.Page, error) {
	o.Limit = l.limit
	return l.Store.List(ctx, o)
}

func TestListPagination(t *testing.T) {
	modes(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		vers := map[string]sdk.Version{}
		for i := range 23 {
			k := fmt.Sprintf("v/%02d", i)
			vers[k] = mustPut(t, s, k, "value-"+k, sdk.None)
		}
		mustPut(t, s, "v", "outside", sdk.None)
		mustPut(t, s, "v0", "outside", sdk.None)
		mustPut(t, s, "w/00", "outside", sdk.None)
		for _, withValues := range []bool{false, true} {
			var got []string
			opts := sdk.ListOptions{Prefix: "v/", Limit: 5, WithValues: withValues}
			pages := 0
			for {
				page, err := sdk.Checked(s).List(ctx, opts)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(page.Entries) > 5 {
					t.Fatalf("page of %d entries with limit 5", len(page.Entries))
				}
				for _, e := range page.Entries {
					got = append(got, e.Key)
					if e.Version != vers[e.Key] {
						t.Fatalf("%s: version %s, want %s", e.Key, e.Version, vers[e.Key])
					}
					if withValues != (e.Value != nil) || withValues && string(e.Value) != "value-"+e.Key {
						t.Fatalf("%s: value %q with values=%v", e.Key, e.Value, withValues)
					}
				}
				if !page.More {
					break
				}
				opts.StartAfter = page.Entries[len(page.Entries)-1].Key
				if pages > 10 {
					t.Fatal("too many pages")
				}
			}
			if len(got) != 23 || !sort.StringsAreSorted(got) || pages != 5 {
				t.Fatalf("values=%v: %d keys in %d pages: %v", withValues, len(got), pages, got)
			}
		}
		// StartAfter that is not a key, or has non-key bytes.
		for after, first := range map[string]string{"v/05x": "v/06", "v/05\x00": "v/06", "v/0": "v/00", "v/05": "v/06", "v/05!": "v/06", "v/05~": "v/06", "v/\xff": "", "v/0\xff": "v/10", "v/05A": "v/06", "u\xff": "v/00"} {
			page, err := sdk.Checked(s).List(ctx, sdk.ListOptions{Prefix: "v/", StartAfter: after, Limit: 1})
			if err != nil {
				t.Fatalf("start-after %q: %v", after, err)
			}
			if first == "" {
				if len(page.Entries) != 0 || page.More {
					t.Fatalf("start-after %q: %+v", after, page)
				}
				continue
			}
			if len(page.Entries) != 1 || page.Entries[0].Key != first {
				t.Fatalf("start-after %q: %+v, want %s first", after, page, first)
			}
		}
		// A prefix without '/' matches by bytes.
		page, err := sdk.Checked(s).List(ctx, sdk.ListOptions{Prefix: "v"})
		if err != nil || len(page.Entries) != 25 {
			t.Fatalf("prefix v: %d entries, %v", len(page.Entries), err)
		}
	})
}

// TestListWithValuesConcurrentDelete: values and versions match Get, and keys
// deleted between the listing and the reads are dropped from the page, while
// the store is written concurrently.
func TestListWithValuesConcurrentDelete(t *testing.T) {
	s, _, _ := newStore(t, "max_concurrency", "3")
	ctx := context.Background()
	for i := range 40 {
		mustPut(t, s, fmt.Sprintf("k%02d", i), fmt.Sprintf("val%02d", i), sdk.None)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 40; i += 2 {
			if err := s.Delete(ctx, fmt.Sprintf("k%02d", i), sdk.None); err != nil {
				t.Error(err)
			}
		}
	}()
	for range 5 {
		page, err := sdk.Checked(s).List(ctx, sdk.ListOptions{WithValues: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			if string(e.Value) != "val"+e.Key[1:] {
				t.Fatalf("%s: value %q", e.Key, e.Value)
			}
		}
	}
	wg.Wait()
	page, err := sdk.Checked(s).List(ctx, sdk.ListOptions{WithValues: true})
	if err != nil || len(page.Entries) != 20 {
		t.Fatalf("after deletes: %d entries, %v", len(page.Entries), err)
	}
	for _, e := range page.Entries {
		v, ver, err := s.Get(ctx, e.Key)
		if err != nil || !bytes.Equal(v, e.Value) || ver != e.Version {
			t.Fatalf("%s: list %q@%s, get %q@%s %v", e.Key, e.Value, e.Version, v, ver, err)
		}
	}
}

// TestPrefixIsolation: stores on one bucket with different prefixes do not
// see each other's keys, and objects that are not keys are ignored.
func TestPrefixIsolation(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	mk := func(prefix string) *Store {
		cfg := srv.Config(bucket)
		if prefix != "" {
			cfg["prefix"] = prefix
		}
		s, err := open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b, root := mk("team"), mk("team-b"), mk("")
	mustPut(t, a, "k", "a", sdk.None)
	mustPut(t, b, "k", "b", sdk.None)
	wantGet(t, a, "k", "a", "")
	wantGet(t, b, "k", "b", "")
	// Foreign objects in the bucket: not keys.
	raw := srv.Client(t)
	for _, name := range []string{"team/foreign", "team/k", "team/x/", "README"} {
		body := "foreign object, longer than a header"
		if strings.HasSuffix(name, "/") {
			body = "" // versitygw stores "x/" as a directory: no data allowed
		}
		if _, err := raw.PutObject(ctx, bucket, name, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put %q: %v", name, err)
		}
	}
	for _, s := range []*Store{a, b} {
		page, err := sdk.Checked(s).List(ctx, sdk.ListOptions{WithValues: true})
		if err != nil || len(page.Entries) != 1 || page.Entries[0].Key != "k" {
			t.Fatalf("list: %+v, %v", page, err)
		}
	}
	// Without a prefix, the prefixed stores' objects are keys under
	// "team/..." and "team-b/...".
	page, err := sdk.Checked(root).List(ctx, sdk.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Entries {
		got = append(got, e.Key)
	}
	if strings.Join(got, " ") != "team-b/k team/k" {
		t.Fatalf("root list: %v", got)
	}
	// A foreign object where a key's object would be is reported, not
	// returned.
	if _, err := raw.PutObject(ctx, bucket, "team/bad!", strings.NewReader("not ours"), -1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _, err = a.Get(ctx, "bad")
	wantErr(t, "get foreign object", err, sdk.ErrUnavailable)
	if !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("error %q does not name the key", err)
	}
}

// TestConcurrentCAS: concurrent increments with IfVersion lose no update.
func TestConcurrentCAS(t *testing.T) {
	s, _, _ := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mustPut(t, s, "counter", "0", sdk.IfAbsent())
	const workers, each = 4, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				b, v, err := s.Get(ctx, "counter")
				if err != nil {
					t.Error(err)
					return
				}
				n, _ := strconv.Atoi(string(b))
				_, err = s.Put(ctx, "counter", []byte(strconv.Itoa(n+1)), sdk.IfVersion(v))
				switch {
				case err == nil:
					done++
				case errors.Is(err, sdk.ErrConflict):
					mu.Lock()
					conflicts++
					mu.Unlock()
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	wantGet(t, s, "counter", strconv.Itoa(workers*each), "")
	t.Logf("%d increments, %d conflicts", workers*each, conflicts)
}

func TestContextCanceled(t *testing.T) {
	s, _, _ := newStore(t)
	mustPut(t, s, "k", "v", sdk.None)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.Get(ctx, "k")
	wantErr(t, "get", err, context.Canceled)
	_, err = s.Put(ctx, "k", []byte("x"), sdk.None)
	wantErr(t, "put", err, context.Canceled)
	wantErr(t, "delete", s.Delete(ctx, "k", sdk.None), context.Canceled)
	_, err = sdk.Checked(s).List(ctx, sdk.ListOptions{WithValues: true})
	wantErr(t, "list", err, context.Canceled)
	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer dcancel()
	_, _, err = s.Get(dctx, "k")
	wantErr(t, "get past deadline", err, context.DeadlineExceeded)
	_, err = open(ctx, s.cfgMap())
	wantErr(t, "open", err, context.Canceled)
	wantGet(t, s, "k", "v", "")

	// A canceled call in flight against a server that never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold the connection, never answer
		}
	}()
	cfg := map[string]string{"bucket": "silent", "endpoint": "http://" + l.Addr().String(),
		"access_key_id": "a", "secret_access_key": "b", "max_retries": "0"}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	start := time.Now()
	_, err = New(ctx2, cfg)
	wantErr(t, "open against a silent server", err, context.DeadlineExceeded)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("canceled open took %v", d)
	}
	// The per-request timeout is ErrUnavailable, not the caller's deadline.
	cfg["timeout"] = "200ms"
	_, err = New(context.Background(), cfg)
	wantErr(t, "open with request timeout", err, sdk.ErrUnavailable)
	if !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("err %q does not say timeout", err)
	}
}

// cfgMap rebuilds a config map of s for reopening (tests only).
func (s *Store) cfgMap() map[string]string {
	return map[string]string{
		"bucket": s.cfg.bucket, "endpoint": s.cfg.endpoint, "region": s.cfg.region,
		"access_key_id": s.cfg.accessKeyID, "secret_access_key": s.cfg.secretAccessKey,
	}
}

func TestClosed(t *testing.T) {
	s, _, _ := newStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Get(context.Background(), "k")
	wantErr(t, "get after close", err, sdk.ErrUnavailable)
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestConfigureErrors(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()

	t.Run("missing bucket", func(t *testing.T) {
		cfg := srv.Config("no-such-bucket-" + strconv.FormatInt(time.Now().UnixNano(), 36))
		_, err := New(ctx, cfg)
		wantErr(t, "open", err, sdk.ErrInvalidArgument)
		if !strings.Contains(err.Error(), cfg["bucket"]) || !strings.Contains(err.Error(), `config field "bucket"`) {
			t.Fatalf("err %q does not name the bucket", err)
		}
		t.Logf("%v", err)
	})
	t.Run("bad secret", func(t *testing.T) {
		cfg := srv.Config(bucket)
		cfg["secret_access_key"] = "not-" + srv.SecretKey
		_, err := New(ctx, cfg)
		wantErr(t, "open", err, sdk.ErrPermissionDenied)
		if strings.Contains(err.Error(), srv.SecretKey) {
			t.Fatalf("err %q echoes the secret", err)
		}
		t.Logf("%v", err)
	})
	t.Run("unknown access key", func(t *testing.T) {
		cfg := srv.Config(bucket)
		cfg["access_key_id"] = "nobody"
		_, err := New(ctx, cfg)
		wantErr(t, "open", err, sdk.ErrPermissionDenied)
		if strings.Contains(err.Error(), srv.SecretKey) {
			t.Fatalf("err %q echoes the secret", err)
		}
	})
	t.Run("unreachable endpoint", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // a closed loopback port: connection refused
		cfg := srv.Config(bucket)
		cfg["endpoint"] = "http://" + addr
		cfg["max_retries"] = "1"
		start := time.Now()
		_, err = New(ctx, cfg)
		wantErr(t, "open", err, sdk.ErrUnavailable)
		if !strings.Contains(err.Error(), "http://"+addr) {
			t.Fatalf("err %q does not name the endpoint", err)
		}
		if strings.Contains(err.Error(), srv.SecretKey) {
			t.Fatalf("err %q echoes the secret", err)
		}
		t.Logf("unreachable endpoint reported after %v: %v", time.Since(start), err)
	})
	t.Run("bucket deleted after open", func(t *testing.T) {
		b2 := srv.NewBucket(t)
		s, err := New(ctx, srv.Config(b2))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := srv.Client(t).RemoveBucket(ctx, b2); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Get(ctx, "k")
		wantErr(t, "get", err, sdk.ErrUnavailable)
		if !strings.Contains(err.Error(), b2) {
			t.Fatalf("err %q does not name the bucket", err)
		}
		if err := srv.Client(t).MakeBucket(ctx, b2, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err) // for the cleanup
		}
	})
	t.Run("probe leaves nothing", func(t *testing.T) {
		b3 := srv.NewBucket(t)
		for range 3 {
			s, err := New(ctx, srv.Config(b3))
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
		}
		for o := range srv.Client(t).ListObjects(ctx, b3, minio.ListObjectsOptions{Recursive: true}) {
			t.Errorf("object %q left by the probe (err %v)", o.Key, o.Err)
		}
	})
}

// TestNoCredentials: without static keys and with an empty default chain,
// New reports missing credentials, not an unreachable server.
func TestNoCredentials(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.NewBucket(t)
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // never contact the link-local metadata service
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	cfg := srv.Config(bucket)
	delete(cfg, "access_key_id")
	delete(cfg, "secret_access_key")
	_, err := New(context.Background(), cfg)
	wantErr(t, "open without credentials", err, sdk.ErrPermissionDenied)
	if !strings.Contains(err.Error(), "credential") {
		t.Fatalf("err %q does not mention credentials", err)
	}
	t.Logf("%v", err)
}

// listRanges starts every listing in the directory of its start-after name
// and climbs to the prefix (see listRanges for why).
func TestListRanges(t *testing.T) {
	for _, tc := range []struct {
		prefix, after string
		want          []listRange
	}{
		{"p/", "", []listRange{{"p/", ""}}},
		{"p/", "p/a!", []listRange{{"p/", "p/a!"}}},
		{"p/", "p/a/-!", []listRange{{"p/a/", "p/a/-!"}, {"p/", "p/a0"}}},
		{"p/", "p/a/b/c/d!", []listRange{{"p/a/b/c/", "p/a/b/c/d!"}, {"p/a/b/", "p/a/b/c0"}, {"p/a/", "p/a/b0"}, {"p/", "p/a0"}}},
		{"p/a", "p/a/b!", []listRange{{"p/a/", "p/a/b!"}, {"p/a", "p/a0"}}},
		{"p/a/", "p/a/b/c!", []listRange{{"p/a/b/", "p/a/b/c!"}, {"p/a/", "p/a/b0"}}},
		{"p/b/", "p/a/x!", []listRange{{"p/b/", "p/a/x!"}}},
		{"", "a/b~", []listRange{{"a/", "a/b~"}, {"", "a0"}}},
	} {
		got := listRanges(tc.prefix, tc.after)
		if !slices.Equal(got, tc.want) {
			t.Errorf("listRanges(%q, %q) = %q, want %q", tc.prefix, tc.after, got, tc.want)
		}
	}
}
