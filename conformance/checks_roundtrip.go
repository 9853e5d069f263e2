package conformance

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/ALRubinger/aileron-store/sdk"
)

// roundTrip writes value under key and wants it back from Get and from a
// listing with values.
func roundTrip(e *env, key string, value []byte) {
	v := e.mustPut(key, value, sdk.None)
	got, gv := e.mustGet(key)
	if !bytes.Equal(got, value) {
		e.fatalf("Get(%q) = %s, want the %s written", key, describe(got), describe(value))
	}
	if gv != v {
		e.fatalf("Get(%q) version = %q, want %q returned by Put", key, gv, v)
	}
	for _, en := range e.listAll(e.s, key, 0, true) {
		if en.Key == key {
			if !bytes.Equal(en.Value, value) {
				e.fatalf("List with values: key %q has %s, want the %s written", key, describe(en.Value), describe(value))
			}
			return
		}
	}
	e.fatalf("List(prefix %q) does not list the key just written", key)
}

func checkEmptyValue(e *env) {
	roundTrip(e, "rt/empty", []byte{})
	roundTrip(e, "rt/nil", nil)
}

func checkOneByte(e *env) {
	roundTrip(e, "rt/one", []byte{0x00})
	roundTrip(e, "rt/one-ff", []byte{0xff})
}

func checkAllBytes(e *env) {
	all := make([]byte, 512)
	for i := 0; i < 256; i++ {
		all[i] = byte(i)
		all[511-i] = byte(i)
	}
	roundTrip(e, "rt/all-bytes", all)
	roundTrip(e, "rt/random", randomBytes(e.rng(), 64<<10+7))
	roundTrip(e, "rt/text", []byte("{\"json\": true}\r\n\x00trailing\n"))
}

func checkMaxValue(e *env) {
	max := e.maxValue()
	e.logf("maximum value size %d bytes", max)
	roundTrip(e, "rt/max", randomBytes(e.rng(), max))
}

func checkOverMax(e *env) {
	max := e.maxValue()
	big := make([]byte, max+1)
	for _, key := range []string{"rt/over-new", "rt/over-existing"} {
		var v sdk.Version
		if key == "rt/over-existing" {
			v = e.mustPut(key, []byte("intact"), sdk.None)
		}
		for _, cond := range []sdk.Cond{sdk.None, sdk.IfAbsent()} {
			_, err := e.s.Put(e.ctx, key, big, cond)
			e.wantKind(err, sdk.ErrInvalidArgument, fmt.Sprintf("Put(%q, %d bytes, %v)", key, len(big), cond))
			if !strings.Contains(err.Error(), key) {
				e.fatalf("Put(%q, %d bytes): error %q does not name the key", key, len(big), err)
			}
		}
		if v == "" {
			e.wantMissing(key)
		} else {
			_, err := e.s.Put(e.ctx, key, big, sdk.IfVersion(v))
			e.wantKind(err, sdk.ErrInvalidArgument, fmt.Sprintf("Put(%q, %d bytes, if-version)", key, len(big)))
			e.wantValue(key, []byte("intact"), v)
		}
	}
}

func checkOverwrite(e *env) {
	const key = "rt/overwrite"
	v1 := e.mustPut(key, []byte("one"), sdk.None)
	v2 := e.mustPut(key, []byte("two, longer"), sdk.None)
	if v1 == v2 {
		e.fatalf("two Puts of %q returned the same version %q", key, v1)
	}
	e.wantValue(key, []byte("two, longer"), v2)
	v3 := e.mustPut(key, []byte("3"), sdk.None)
	e.wantValue(key, []byte("3"), v3)
}

func checkCallerOwns(e *env) {
	const key = "rt/owned"
	buf := []byte("original value")
	e.mustPut(key, buf, sdk.None)
	copy(buf, "XXXXXXXX")
	e.wantValue(key, []byte("original value"), "")

	got, _ := e.mustGet(key)
	copy(got, "YYYYYYYY")
	e.wantValue(key, []byte("original value"), "")

	for _, en := range e.listAll(e.s, "rt/", 0, true) {
		copy(en.Value, "ZZZZZZZZ")
	}
	e.wantValue(key, []byte("original value"), "")
}

// charsetSegment returns n bytes cycling through every allowed key byte,
// starting at offset.
func charsetSegment(n, offset int) string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789-_."
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(chars[(i+offset)%len(chars)])
	}
	s := b.String()
	if s == "." || s == ".." {
		return "x"
	}
	return s
}

// keysRoundTrip stores a distinct value under each key, then reads each back
// and wants exactly keys listed.
func keysRoundTrip(e *env, keys []string) {
	for _, k := range keys {
		if err := sdk.ValidateKey(k); err != nil {
			e.fatalf("conformance bug: test key %q is invalid: %v", k, err)
		}
		e.mustPut(k, []byte("value of "+k), sdk.None)
	}
	for _, k := range keys {
		e.wantValue(k, []byte("value of "+k), "")
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	got := keysOf(e.listAll(e.s, "", 0, false))
	if !slices.Equal(got, want) {
		e.fatalf("List returns keys\n  %q\nwant\n  %q", got, want)
	}
}

func checkKeyMaxLen(e *env) {
	seg := sdk.MaxSegmentLen
	long := charsetSegment(seg, 0) + "/" + charsetSegment(seg, 1) + "/" + charsetSegment(seg, 2) + "/" +
		charsetSegment(sdk.MaxKeyLen-3*seg-3, 3)
	if len(long) != sdk.MaxKeyLen {
		e.fatalf("conformance bug: long key is %d bytes", len(long))
	}
	keys := []string{
		long,
		strings.Repeat("z", seg),
		strings.Repeat("m", seg) + "/" + strings.Repeat("n", seg),
		strings.Repeat("a", seg-1) + "/" + "b",
	}
	keysRoundTrip(e, keys)
}

func checkKeyDeep(e *env) {
	segs := make([]string, 256)
	for i := range segs {
		segs[i] = string("abcdefghijklmnopqrstuvwxyz0123456789"[i%36])
	}
	deep := strings.Join(segs, "/")
	keysRoundTrip(e, []string{deep, deep[:len(deep)-2] + "/-"})
}

func checkKeyCharset(e *env) {
	keys := []string{
		charsetSegment(39, 0),
		"0", "9", "a", "z", "-", "_", "...", ".a", "a.", "-a", "_a", "a-", "a_",
		"-/_/...", "._", ".-", "a..b", "a--b", "a__b",
		".git", ".lock", ".tmp", "a.tmp", "a.lock", "_meta", "tmp", "con", "nul", "lpt1", "aux",
		"0/1/2", "z/y/x",
	}
	keysRoundTrip(e, keys)
}

func checkKeyAndSubkey(e *env) {
	keysRoundTrip(e, []string{"a", "a/b", "a/b/c", "ab", "a-b"})
	// Deleting the key must not affect the keys below it, and vice versa.
	e.mustDelete("a", sdk.None)
	e.wantMissing("a")
	e.wantValue("a/b", []byte("value of a/b"), "")
	e.wantValue("a/b/c", []byte("value of a/b/c"), "")
	e.mustDelete("a/b/c", sdk.None)
	e.mustDelete("a/b", sdk.None)
	e.mustPut("a", []byte("again"), sdk.IfAbsent())
	e.wantValue("a", []byte("again"), "")
	want := []string{"a", "a-b", "ab"}
	if got := keysOf(e.listAll(e.s, "", 0, false)); !slices.Equal(got, want) {
		e.fatalf("List returns %q, want %q", got, want)
	}
	if got := keysOf(e.listAll(e.s, "a/", 0, false)); len(got) != 0 {
		e.fatalf("List(prefix \"a/\") returns %q after deleting every key below a/, want nothing", got)
	}
}
