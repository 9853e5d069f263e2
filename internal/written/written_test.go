package written

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk"
)

// TestBounds: a Memory stays within its bounds,
// forgets the oldest write first, and accounts for replaced values.
func TestBounds(t *testing.T) {
	var w Memory
	val := bytes.Repeat([]byte{'x'}, 1000)
	for i := range MaxEntries + 100 {
		w.Add(fmt.Sprintf("k%d", i%20000), sdk.Version(fmt.Sprint(i)), val[:i%1000])
		if w.bytes > MaxBytes || len(w.order)-w.head > MaxEntries {
			t.Fatalf("after %d writes: %d bytes, %d entries", i+1, w.bytes, len(w.order)-w.head)
		}
	}
	sum := 0
	for _, v := range w.m {
		sum += len(v.value)
	}
	if sum != w.bytes {
		t.Fatalf("accounted %d bytes, holds %d", w.bytes, sum)
	}
	last := MaxEntries + 99
	if v, ok := w.Get(fmt.Sprintf("k%d", last%20000), sdk.Version(fmt.Sprint(last))); !ok || len(v) != last%1000 {
		t.Fatalf("the last write is not remembered: %d bytes, %v", len(v), ok)
	}
	var fifo Memory
	fifo.Add("first", "1", []byte("v"))
	for i := range MaxEntries - 1 {
		fifo.Add(fmt.Sprint(i), "1", nil)
	}
	if _, ok := fifo.Get("first", "1"); !ok {
		t.Fatal("forgot a write within the bounds")
	}
	fifo.Add("one more", "1", nil)
	if _, ok := fifo.Get("first", "1"); ok {
		t.Fatal("the oldest write is still remembered past MaxEntries")
	}
	if _, ok := w.Get(fmt.Sprintf("k%d", last%20000), "another"); ok {
		t.Fatal("remembered at another version")
	}
	w.Forget(fmt.Sprintf("k%d", last%20000))
	if _, ok := w.Get(fmt.Sprintf("k%d", last%20000), sdk.Version(fmt.Sprint(last))); ok {
		t.Fatal("remembered after forget")
	}
	big := make([]byte, MaxValue+1)
	w.Add("big", "1", big)
	if _, ok := w.Get("big", "1"); ok {
		t.Fatal("a value above MaxValue is remembered")
	}
}

// TestWrote: a successful write is remembered, a failed condition leaves
// the memory as it was, and any other error forgets the key (the write may
// have landed).
func TestWrote(t *testing.T) {
	var w Memory
	w.Wrote("k", "1", []byte("one"), nil)
	if v, ok := w.Get("k", "1"); !ok || string(v) != "one" {
		t.Fatalf("after a write: %q, %v", v, ok)
	}
	for _, err := range []error{sdk.Errorf(sdk.ErrConflict, "k"), sdk.Errorf(sdk.ErrNotFound, "k")} {
		w.Wrote("k", "", []byte("two"), err)
		if v, ok := w.Get("k", "1"); !ok || string(v) != "one" {
			t.Fatalf("after %v: %q, %v", err, v, ok)
		}
	}
	w.Wrote("k", "", []byte("two"), sdk.Errorf(sdk.ErrUnavailable, "timeout"))
	if _, ok := w.Get("k", "1"); ok {
		t.Fatal("remembered after a write of unknown outcome")
	}
}
