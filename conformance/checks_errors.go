package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
)

func checkNotFound(e *env) {
	for _, key := range []string{"missing", "no/such/key-1"} {
		_, _, err := e.s.Get(e.ctx, key)
		e.wantKind(err, sdk.ErrNotFound, fmt.Sprintf("Get(%q) of a missing key", key))
		if !strings.Contains(err.Error(), key) {
			e.fatalf("Get(%q) of a missing key: error %q does not name the key", key, err)
		}
	}
}

func checkConflict(e *env) {
	const key = "errors/conflict"
	v := e.mustPut(key, []byte("first"), sdk.None)
	_, err := e.s.Put(e.ctx, key, []byte("second"), sdk.IfAbsent())
	e.wantKind(err, sdk.ErrConflict, fmt.Sprintf("Put(%q, if-absent) of an existing key", key))
	if !strings.Contains(err.Error(), key) {
		e.fatalf("Put(%q, if-absent) of an existing key: error %q does not name the key", key, err)
	}
	e.wantValue(key, []byte("first"), v)
}

// invalidKeys are keys the contract refuses, with why.
var invalidKeys = []struct{ key, why string }{
	{"", "empty"},
	{"A", "upper case"},
	{"Key/b", "upper case segment"},
	{"a//b", "doubled '/'"},
	{"/a", "leading '/'"},
	{"a/", "trailing '/'"},
	{"/", "only '/'"},
	{".", "'.' segment"},
	{"..", "'..' segment"},
	{"a/./b", "'.' segment"},
	{"a/../b", "'..' segment"},
	{"a b", "space"},
	{"a\x00b", "NUL byte"},
	{"a\\b", "backslash"},
	{"a:b", "colon"},
	{"a*b", "asterisk"},
	{"\xff", "invalid UTF-8"},
	{"caf\u00e9", "non-ASCII"},
	{strings.Repeat("a", sdk.MaxKeyLen+1), "one byte over MaxKeyLen"},
	{strings.Repeat("a", sdk.MaxSegmentLen+1), "segment one byte over MaxSegmentLen"},
	{"a/" + strings.Repeat("b", sdk.MaxSegmentLen+1), "second segment one byte over MaxSegmentLen"},
}

func checkInvalidKey(e *env) {
	for _, k := range invalidKeys {
		what := fmt.Sprintf("key %.40q (%s)", k.key, k.why)
		_, _, err := e.s.Get(e.ctx, k.key)
		e.wantKind(err, sdk.ErrInvalidArgument, "Get of "+what)
		_, err = e.s.Put(e.ctx, k.key, []byte("x"), sdk.None)
		e.wantKind(err, sdk.ErrInvalidArgument, "Put of "+what)
		_, err = e.s.Put(e.ctx, k.key, []byte("x"), sdk.IfAbsent())
		e.wantKind(err, sdk.ErrInvalidArgument, "Put(if-absent) of "+what)
		err = e.s.Delete(e.ctx, k.key, sdk.None)
		e.wantKind(err, sdk.ErrInvalidArgument, "Delete of "+what)
	}
	if got := keysOf(e.listAll(e.s, "", 0, false)); len(got) != 0 {
		e.fatalf("after refused Puts of invalid keys the store lists %q, want nothing", got)
	}
}

func checkInvalidCond(e *env) {
	const key = "errors/cond"
	v := e.mustPut(key, []byte("value"), sdk.None)
	err := e.s.Delete(e.ctx, key, sdk.IfAbsent())
	e.wantKind(err, sdk.ErrInvalidArgument, fmt.Sprintf("Delete(%q, if-absent)", key))
	_, err = e.s.Put(e.ctx, key, []byte("other"), sdk.IfVersion(""))
	e.wantKind(err, sdk.ErrInvalidArgument, fmt.Sprintf("Put(%q, if-version(\"\"))", key))
	err = e.s.Delete(e.ctx, key, sdk.IfVersion(""))
	e.wantKind(err, sdk.ErrInvalidArgument, fmt.Sprintf("Delete(%q, if-version(\"\"))", key))
	e.wantValue(key, []byte("value"), v)
}

func checkInvalidList(e *env) {
	e.mustPut("a/b", []byte("x"), sdk.None)
	bad := []struct {
		opts sdk.ListOptions
		why  string
	}{
		{sdk.ListOptions{Prefix: "/a"}, "prefix with a leading '/'"},
		{sdk.ListOptions{Prefix: "a//"}, "prefix ending in a doubled '/'"},
		{sdk.ListOptions{Prefix: "a//b"}, "prefix with a doubled '/'"},
		{sdk.ListOptions{Prefix: "A"}, "upper-case prefix"},
		{sdk.ListOptions{Prefix: "a b"}, "prefix with a space"},
		{sdk.ListOptions{Prefix: strings.Repeat("a", sdk.MaxKeyLen+1)}, "prefix over MaxKeyLen"},
		{sdk.ListOptions{StartAfter: strings.Repeat("a", sdk.MaxKeyLen+1)}, "start-after over MaxKeyLen"},
		{sdk.ListOptions{Limit: -1}, "negative limit"},
		{sdk.ListOptions{Limit: sdk.MaxListLimit + 1}, "limit over MaxListLimit"},
	}
	for _, b := range bad {
		_, err := e.s.List(e.ctx, b.opts)
		e.wantKind(err, sdk.ErrInvalidArgument, "List with a "+b.why)
	}
}

// checkCtxErr calls every method with ctx (already done) and wants kind.
func checkCtxErr(e *env, ctx context.Context, kind error) {
	const (
		existing = "ctx/existing"
		fresh    = "ctx/fresh"
	)
	v := e.mustPut(existing, []byte("old"), sdk.None)

	_, _, err := e.s.Get(ctx, existing)
	e.wantKind(err, kind, fmt.Sprintf("Get(%q)", existing))

	_, err = e.s.Put(ctx, fresh, []byte("new"), sdk.None)
	e.wantKind(err, kind, fmt.Sprintf("Put(%q)", fresh))
	if b, _, err := e.s.Get(e.ctx, fresh); err == nil {
		if !bytes.Equal(b, []byte("new")) {
			e.fatalf("after a Put(%q) that failed with %v the key holds %s, want nothing or the whole value", fresh, kind, describe(b))
		}
	} else {
		e.wantKind(err, sdk.ErrNotFound, fmt.Sprintf("Get(%q) after a Put that failed with %v", fresh, kind))
	}

	_, err = e.s.Put(ctx, existing, []byte("newer"), sdk.IfVersion(v))
	e.wantKind(err, kind, fmt.Sprintf("Put(%q, if-version)", existing))
	if b, _, err := e.s.Get(e.ctx, existing); err != nil {
		e.fatalf("Get(%q) after a Put that failed with %v: %v", existing, kind, err)
	} else if !bytes.Equal(b, []byte("old")) && !bytes.Equal(b, []byte("newer")) {
		e.fatalf("after a Put(%q) that failed with %v the key holds %s, want the old or the new value", existing, kind, describe(b))
	}

	err = e.s.Delete(ctx, existing, sdk.None)
	e.wantKind(err, kind, fmt.Sprintf("Delete(%q)", existing))

	_, err = e.s.List(ctx, sdk.ListOptions{})
	e.wantKind(err, kind, "List")
	_, err = e.s.List(ctx, sdk.ListOptions{WithValues: true})
	e.wantKind(err, kind, "List with values")
}

func checkCanceled(e *env) {
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	checkCtxErr(e, ctx, context.Canceled)
}

func checkDeadline(e *env) {
	ctx, cancel := context.WithDeadline(e.ctx, time.Now().Add(-time.Second))
	defer cancel()
	checkCtxErr(e, ctx, context.DeadlineExceeded)
}

// checkDeadlineDuringWrite races Puts against short deadlines. A Put that
// fails with a context error may still land later (the request may already
// be on its way to the backend, as with any remote store), so the check
// wants every read to be a whole value that some Put of the check wrote, and
// a Put that succeeded, with no expired Put before it, to be read back
// exactly.
func checkDeadlineDuringWrite(e *env) {
	const key = "ctx/racing-deadline"
	r := e.rng()
	size := min(256<<10, e.maxValue())
	issued := map[int]bool{0: true}
	// Deadlines spread over twice the time of the fastest of three Puts, so
	// that some expire before the call, some during it and some not at all.
	span := time.Hour
	for range 3 {
		t0 := time.Now()
		e.mustPut(key, stamp(key, 0, 0, size), sdk.None)
		span = min(span, 2*time.Since(t0))
	}
	span = max(span, time.Millisecond)
	var ok, expired int
	for i := 1; i <= 24; i++ {
		next := stamp(key, 0, i, size)
		issued[i] = true
		ctx, cancel := context.WithTimeout(e.ctx, time.Duration(r.Int64N(int64(span))))
		_, err := e.s.Put(ctx, key, next, sdk.None)
		cancel()
		got, _ := e.mustGet(key)
		_, seq, serr := unstamp(key, got)
		if serr != nil {
			e.fatalf("round %d: after a Put(%q) that returned %v: %v", i, key, err, serr)
		}
		if !issued[seq] {
			e.fatalf("round %d: Get(%q) returns the value of round %d, never written", i, key, seq)
		}
		switch {
		case err == nil:
			ok++
			if expired == 0 && seq != i {
				e.fatalf("round %d: Put(%q) succeeded but Get returns the value of round %d", i, key, seq)
			}
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			expired++
		default:
			e.fatalf("round %d: Put(%q) with a short deadline: %v, want success or a context error", i, key, err)
		}
	}
	// The store is not wedged: a conditional write with the version read now
	// succeeds (retrying while expired Puts may still be landing).
	for attempt := 0; ; attempt++ {
		_, v := e.mustGet(key)
		_, err := e.s.Put(e.ctx, key, stamp(key, 0, 99, size), sdk.IfVersion(v))
		if err == nil {
			break
		}
		if !errors.Is(err, sdk.ErrConflict) || attempt >= 20 {
			e.fatalf("Put(%q, if-version) after the deadline races: %v", key, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.logf("%d puts completed, %d ended by their deadline", ok, expired)
}
