// Package writtentest checks a Store that keeps a written.Memory: its
// listing with values reads back only what other clients wrote.
package writtentest

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk"
)

// CheckListReads has a write 30 keys "k00".."k29", b (another client of the
// same backend) overwrite every third, and a delete one key of its own and
// one of b's; then a lists everything with values. Each listed value must
// be the last writer's, at the version b reads, and reads (the backend's
// object reads a made since reset) must count 9: one per object b wrote,
// none for a's own.
func CheckListReads(t *testing.T, a, b sdk.Store, reset func(), reads func() int) {
	t.Helper()
	ctx := context.Background()
	const n = 30
	put := func(s sdk.Store, key, value string) {
		t.Helper()
		if _, err := s.Put(ctx, key, []byte(value), sdk.None); err != nil {
			t.Fatalf("put %q: %v", key, err)
		}
	}
	for i := range n {
		put(a, fmt.Sprintf("k%02d", i), fmt.Sprintf("a%02d", i))
	}
	for i := 0; i < n; i += 3 {
		put(b, fmt.Sprintf("k%02d", i), fmt.Sprintf("b%02d", i))
	}
	for _, k := range []string{"k01", "k03"} { // one of a's keys, one of b's
		if err := a.Delete(ctx, k, sdk.None); err != nil {
			t.Fatal(err)
		}
	}
	reset()
	page, err := sdk.Checked(a).List(ctx, sdk.ListOptions{WithValues: true})
	if err != nil {
		t.Fatal(err)
	}
	got := reads()
	if len(page.Entries) != n-2 {
		t.Fatalf("listed %d keys, want %d", len(page.Entries), n-2)
	}
	for _, e := range page.Entries {
		var i int
		fmt.Sscanf(e.Key, "k%02d", &i)
		want := fmt.Sprintf("a%02d", i)
		if i%3 == 0 {
			want = fmt.Sprintf("b%02d", i)
		}
		if string(e.Value) != want {
			t.Errorf("%s: listed value %q, want %q", e.Key, e.Value, want)
		}
		v, ver, err := b.Get(ctx, e.Key)
		if err != nil || !bytes.Equal(v, e.Value) || ver != e.Version {
			t.Errorf("%s: listed %q@%s, b reads %q@%s %v", e.Key, e.Value, e.Version, v, ver, err)
		}
	}
	// b's writes: k00, k06, ..., k27 (k03 deleted): 9 objects to read.
	if got != 9 {
		t.Errorf("the listing read %d objects, want 9 (one per object b wrote)", got)
	}
}
