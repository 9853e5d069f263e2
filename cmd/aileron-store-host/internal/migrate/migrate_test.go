package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

func fill(t *testing.T, s sdk.Store, n int) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("v/%03d/r%d", i%7, i)
		v := bytes.Repeat([]byte{byte(i)}, i%50)
		if _, err := s.Put(context.Background(), k, v, sdk.None); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	return want
}

func check(t *testing.T, s sdk.Store, want map[string][]byte) {
	t.Helper()
	n := 0
	err := sdk.Walk(context.Background(), s, "", true, func(e sdk.Entry) error {
		n++
		w, ok := want[e.Key]
		if !ok || !bytes.Equal(w, e.Value) {
			return fmt.Errorf("key %q: unexpected value", e.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Fatalf("target has %d keys, want %d", n, len(want))
	}
}

func TestCopyAndVerify(t *testing.T) {
	ctx := context.Background()
	src, dst := memstore.New(), memstore.New()
	want := fill(t, src, 523)
	cp := filepath.Join(t.TempDir(), "cp.json")
	var calls []string
	res, err := Run(ctx, src, dst, Options{Checkpoint: cp, PageSize: 50, Progress: func(op string, d, tot int) {
		if tot != 523 {
			t.Errorf("progress total %d", tot)
		}
		calls = append(calls, fmt.Sprintf("%s:%d", op, d))
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys != 523 || res.Copied != 523 || res.Skipped != 0 || res.Resumed || len(res.Digest) != 64 {
		t.Fatalf("result %+v", res)
	}
	check(t, dst, want)
	if _, err := os.Stat(cp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checkpoint left behind: %v", err)
	}
	if calls[0] != "copy:0" || calls[len(calls)-1] != "verify:523" {
		t.Errorf("progress calls %v", calls)
	}

	// Same data elsewhere gives the same digest.
	dst2 := memstore.New()
	res2, err := Run(ctx, dst, dst2, Options{Checkpoint: cp})
	if err != nil || res2.Digest != res.Digest {
		t.Fatalf("digest differs: %v %v", res2, err)
	}
}

func TestEmptySource(t *testing.T) {
	res, err := Run(context.Background(), memstore.New(), memstore.New(), Options{Checkpoint: filepath.Join(t.TempDir(), "cp")})
	if err != nil || res.Keys != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestTargetNotEmpty(t *testing.T) {
	ctx := context.Background()
	src, dst := memstore.New(), memstore.New()
	fill(t, src, 3)
	dst.Put(ctx, "other", []byte("x"), sdk.None)
	_, err := Run(ctx, src, dst, Options{Checkpoint: filepath.Join(t.TempDir(), "cp")})
	if !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), `"other"`) {
		t.Fatalf("err = %v", err)
	}
}

// failingStore fails every Put after the first n.
type failingStore struct {
	sdk.Store
	left atomic.Int64
}

func (f *failingStore) Put(ctx context.Context, k string, v []byte, c sdk.Cond) (sdk.Version, error) {
	if f.left.Add(-1) < 0 {
		return "", sdk.Errorf(sdk.ErrUnavailable, "injected failure writing %q", k)
	}
	return f.Store.Put(ctx, k, v, c)
}

func TestResumeAfterFailure(t *testing.T) {
	ctx := context.Background()
	src, inner := memstore.New(), memstore.New()
	want := fill(t, src, 300)
	cp := filepath.Join(t.TempDir(), "sub", "cp.json")
	dst := &failingStore{Store: inner}
	dst.left.Store(130)
	_, err := Run(ctx, src, dst, Options{Checkpoint: cp, PageSize: 40, Concurrency: 4, Target: "t.yaml"})
	if !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("first run: %v", err)
	}
	if _, err := os.Stat(cp); err != nil {
		t.Fatalf("no checkpoint after failure: %v", err)
	}
	// Without --resume: refused, naming the checkpoint.
	_, err = Run(ctx, src, inner, Options{Checkpoint: cp})
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("rerun without resume: %v", err)
	}
	res, err := Run(ctx, src, inner, Options{Checkpoint: cp, PageSize: 40, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.Keys != 300 || res.Copied+res.Skipped != 300 || res.Skipped == 0 {
		t.Fatalf("result %+v (the page that failed half-way must be skipped where already copied)", res)
	}
	check(t, inner, want)
}

func TestResumeWithoutCheckpointIntoPartialTarget(t *testing.T) {
	ctx := context.Background()
	src, dst := memstore.New(), memstore.New()
	want := fill(t, src, 20)
	for k, v := range want {
		if k < "v/003" {
			dst.Put(ctx, k, v, sdk.None)
		}
	}
	res, err := Run(ctx, src, dst, Options{Checkpoint: filepath.Join(t.TempDir(), "cp"), Resume: true})
	if err != nil || res.Skipped == 0 || res.Copied+res.Skipped != 20 {
		t.Fatalf("%+v %v", res, err)
	}
	check(t, dst, want)
}

func TestConflictingTargetValue(t *testing.T) {
	ctx := context.Background()
	src, dst := memstore.New(), memstore.New()
	fill(t, src, 5)
	dst.Put(ctx, "v/001/r1", []byte("different"), sdk.None)
	_, err := Run(ctx, src, dst, Options{Checkpoint: filepath.Join(t.TempDir(), "cp"), Resume: true})
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), `"v/001/r1"`) {
		t.Fatalf("err = %v", err)
	}
}

// tamperStore returns a corrupted value for one key in listings.
type tamperStore struct {
	sdk.Store
	key string
}

func (s tamperStore) List(ctx context.Context, o sdk.ListOptions) (sdk.Page, error) {
	p, err := s.Store.List(ctx, o)
	for i := range p.Entries {
		if p.Entries[i].Key == s.key && o.WithValues {
			p.Entries[i].Value = append(p.Entries[i].Value, 'x')
		}
	}
	return p, err
}

func TestVerifyCatchesDifference(t *testing.T) {
	ctx := context.Background()
	src, inner := memstore.New(), memstore.New()
	fill(t, src, 30)
	// The target reads back a different value for one key than was written.
	dst := tamperStore{Store: inner, key: "v/002/r9"}
	_, err := Run(ctx, src, dst, Options{Checkpoint: filepath.Join(t.TempDir(), "cp")})
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), `"v/002/r9"`) || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("err = %v", err)
	}
}

func TestDamagedCheckpoint(t *testing.T) {
	cp := filepath.Join(t.TempDir(), "cp")
	os.WriteFile(cp, []byte("{nope"), 0o600)
	_, err := Run(context.Background(), memstore.New(), memstore.New(), Options{Checkpoint: cp, Resume: true})
	if err == nil || !strings.Contains(err.Error(), cp) {
		t.Fatalf("err = %v", err)
	}
}
