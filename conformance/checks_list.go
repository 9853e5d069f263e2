package conformance

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/ALRubinger/aileron-store/sdk"
)

// orderKeys are chosen so that byte-wise order differs from a naive
// directory walk: '-' < '.' < '/' < '0'-'9' < '_' < 'a'-'z'.
var orderKeys = []string{
	"a", "a-b", "a.b", "a/b", "a/b/c", "a/b-c", "a/b.c", "a/b/c/d", "a/b0", "a0", "a_", "aa", "b",
	"z/z", "0", "9/a", "-", "_", ".x", "a/-", "a/_", "a--", "a-/x",
}

// putKeys stores "value of <key>" under each key, in a scrambled order.
func putKeys(e *env, keys []string) {
	order := slices.Clone(keys)
	e.rng().Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, k := range order {
		e.mustPut(k, []byte("value of "+k), sdk.None)
	}
}

func withPrefix(keys []string, prefix string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (e *env) wantList(prefix string, limit int, want []string) {
	got := keysOf(e.listAll(e.s, prefix, limit, false))
	if !slices.Equal(got, want) {
		e.fatalf("List(prefix %q, limit %d) returns\n  %q\nwant\n  %q", prefix, limit, got, want)
	}
}

func checkListEmpty(e *env) {
	e.wantList("", 0, nil)
	e.wantList("a", 0, nil)
	e.wantList("a/", 1, nil)
	p, err := e.s.List(e.ctx, sdk.ListOptions{WithValues: true})
	if err != nil {
		e.fatalf("List with values of an empty store: %v", err)
	}
	if len(p.Entries) != 0 {
		e.fatalf("List of an empty store returned %d entries", len(p.Entries))
	}
}

func checkListOrder(e *env) {
	putKeys(e, orderKeys)
	want := withPrefix(orderKeys, "")
	e.wantList("", 0, want)
	e.wantList("", sdk.MaxListLimit, want)
	p, err := e.s.List(e.ctx, sdk.ListOptions{})
	if err != nil {
		e.fatalf("List: %v", err)
	}
	if p.More && len(p.Entries) == len(want) {
		// More may be set on a short page, but a page that holds
		// everything must not claim more.
		p2, err := e.s.List(e.ctx, sdk.ListOptions{StartAfter: p.Entries[len(p.Entries)-1].Key})
		if err != nil {
			e.fatalf("List after the last key: %v", err)
		}
		if len(p2.Entries) != 0 {
			e.fatalf("List after the last key returned %q", keysOf(p2.Entries))
		}
	}
}

func checkListPageSizes(e *env) {
	putKeys(e, orderKeys)
	want := withPrefix(orderKeys, "")
	for limit := 1; limit <= len(want)+1; limit++ {
		e.wantList("", limit, want)
	}
	sub := withPrefix(orderKeys, "a/")
	for limit := 1; limit <= len(sub)+1; limit++ {
		e.wantList("a/", limit, sub)
	}
}

func checkListStartAfter(e *env) {
	putKeys(e, orderKeys)
	all := withPrefix(orderKeys, "")
	after := func(prefix, start string) []string {
		var out []string
		for _, k := range withPrefix(all, prefix) {
			if k > start {
				out = append(out, k)
			}
		}
		return out
	}
	cases := []struct{ prefix, start string }{
		{"", ""},
		{"", "a"},      // an existing key that is a prefix of others
		{"", "a/b"},    // existing, with keys below it
		{"", "a/b/"},   // not a key: between a/b and a/b/c
		{"", "a.c"},    // missing, between keys
		{"", "-"},      // the smallest key
		{"", "zzzz"},   // after every key
		{"", "0000"},   // missing
		{"a/", "a"},    // before the prefix
		{"a/", "a/b0"}, // the last key of the prefix
		{"a/", "b"},    // after the prefix
		{"a/b", "a/b"}, // the prefix itself, a key
	}
	for _, c := range cases {
		p, err := e.s.List(e.ctx, sdk.ListOptions{Prefix: c.prefix, StartAfter: c.start})
		if err != nil {
			e.fatalf("List(prefix %q, start-after %q): %v", c.prefix, c.start, err)
		}
		got := keysOf(p.Entries)
		// Continue if the store returned a short page.
		if p.More {
			last := c.start
			if len(got) > 0 {
				last = got[len(got)-1]
			}
			for _, en := range e.listAllFrom(c.prefix, last) {
				got = append(got, en.Key)
			}
		}
		if want := after(c.prefix, c.start); !slices.Equal(got, want) {
			e.fatalf("List(prefix %q, start-after %q) returns\n  %q\nwant\n  %q", c.prefix, c.start, got, want)
		}
	}
}

// listAllFrom lists every key under prefix after start.
func (e *env) listAllFrom(prefix, start string) []sdk.Entry {
	var out []sdk.Entry
	opts := sdk.ListOptions{Prefix: prefix, StartAfter: start}
	for i := 0; i < 10000; i++ {
		p, err := e.s.List(e.ctx, opts)
		if err != nil {
			e.fatalf("List(prefix %q, start-after %q): %v", prefix, opts.StartAfter, err)
		}
		out = append(out, p.Entries...)
		if len(p.Entries) > 0 {
			opts.StartAfter = p.Entries[len(p.Entries)-1].Key
		}
		if !p.More {
			return out
		}
	}
	e.fatalf("List(prefix %q) did not end", prefix)
	return nil
}

func checkListCursorMutations(e *env) {
	var keys []string
	for i := 0; i < 20; i++ {
		keys = append(keys, fmt.Sprintf("cur/k%02d", i))
	}
	putKeys(e, keys)
	p, err := e.s.List(e.ctx, sdk.ListOptions{Prefix: "cur/", Limit: 5})
	if err != nil {
		e.fatalf("List(prefix \"cur/\", limit 5): %v", err)
	}
	first := keysOf(p.Entries)
	if len(first) == 0 || !p.More {
		e.fatalf("List(prefix \"cur/\", limit 5) of 20 keys returned %q with More=%v", first, p.More)
	}
	if !slices.Equal(first, keys[:len(first)]) {
		e.fatalf("first page is %q, want %q", first, keys[:len(first)])
	}
	cursor := first[len(first)-1]
	// Mutate before and after the cursor, and delete the cursor itself.
	e.mustDelete("cur/k00", sdk.None)
	e.mustPut("cur/k00a", []byte("inserted before"), sdk.None)
	e.mustDelete(cursor, sdk.None)
	e.mustDelete("cur/k07", sdk.None)
	e.mustDelete("cur/k19", sdk.None)
	e.mustPut("cur/k10a", []byte("inserted after"), sdk.None)
	e.mustPut("cur/k99", []byte("inserted at the end"), sdk.None)
	e.mustPut("cur/k12", []byte("overwritten"), sdk.None)
	e.mustPut("cus", []byte("outside the prefix"), sdk.None)

	rest := keysOf(e.listAllFromLimit("cur/", cursor, 3))
	current := keysOf(e.listAll(e.s, "cur/", 0, false))
	var want []string
	for _, k := range current {
		if k > cursor {
			want = append(want, k)
		}
	}
	if !slices.Equal(rest, want) {
		e.fatalf("listing resumed after %q returns\n  %q\nwant the keys now present after it\n  %q", cursor, rest, want)
	}
	if !slices.Contains(rest, "cur/k10a") || slices.Contains(rest, "cur/k07") || !slices.Contains(rest, "cur/k99") {
		e.fatalf("listing resumed after %q returns %q: inserts or deletes after the cursor are not reflected", cursor, rest)
	}
}

func (e *env) listAllFromLimit(prefix, start string, limit int) []sdk.Entry {
	var out []sdk.Entry
	opts := sdk.ListOptions{Prefix: prefix, StartAfter: start, Limit: limit}
	for i := 0; i < 10000; i++ {
		p, err := e.s.List(e.ctx, opts)
		if err != nil {
			e.fatalf("List(prefix %q, start-after %q, limit %d): %v", prefix, opts.StartAfter, limit, err)
		}
		for _, en := range p.Entries {
			if en.Key <= opts.StartAfter {
				e.fatalf("List(prefix %q, start-after %q) returned %q", prefix, opts.StartAfter, en.Key)
			}
			opts.StartAfter = en.Key
			out = append(out, en)
		}
		if !p.More {
			return out
		}
	}
	e.fatalf("List(prefix %q) did not end", prefix)
	return nil
}

func checkListPrefix(e *env) {
	keys := []string{"a", "a-", "a-b", "a.b", "a/b", "a/b/c", "a/bc", "ab", "b/a", "a0/b", "a_/b"}
	putKeys(e, keys)
	for _, prefix := range []string{"", "a", "a-", "a/", "a/b", "a/b/", "a.", "ab", "b", "b/", "b/a", "b/a/", "c", "a0/", "a_"} {
		e.wantList(prefix, 0, withPrefix(keys, prefix))
		e.wantList(prefix, 1, withPrefix(keys, prefix))
	}
}

func checkListReadAfterWrite(e *env) {
	for i := 0; i < 25; i++ {
		key := fmt.Sprintf("raw/k%02d", i)
		v := e.mustPut(key, []byte{byte(i)}, sdk.None)
		if got := e.listedVersion(key); got != v {
			e.fatalf("round %d: right after Put(%q) returned version %q, List shows version %q", i, key, v, got)
		}
		v2 := e.mustPut(key, []byte{byte(i), 1}, sdk.IfVersion(v))
		if got := e.listedVersion(key); got != v2 {
			e.fatalf("round %d: right after an overwrite of %q returned version %q, List shows version %q", i, key, v2, got)
		}
		if i%2 == 0 {
			e.mustDelete(key, sdk.None)
		} else {
			e.mustDelete(key, sdk.IfVersion(v2))
		}
		if got := e.listedVersion(key); got != "" {
			e.fatalf("round %d: right after Delete(%q) returned, List still shows it (version %q)", i, key, got)
		}
	}
}

// listedVersion returns the version List shows for key, or "".
func (e *env) listedVersion(key string) sdk.Version {
	for _, en := range e.listAll(e.s, "raw/", 0, false) {
		if en.Key == key {
			return en.Version
		}
	}
	return ""
}

func (e *env) wantEntriesMatchGet(entries []sdk.Entry, want []string) {
	if got := keysOf(entries); !slices.Equal(got, want) {
		e.fatalf("List with values returns keys %q, want %q", got, want)
	}
	for _, en := range entries {
		b, v := e.mustGet(en.Key)
		if !bytes.Equal(b, en.Value) {
			e.fatalf("List with values: key %q has %s, Get returns %s", en.Key, describe(en.Value), describe(b))
		}
		if v != en.Version {
			e.fatalf("List with values: key %q has version %q, Get returns %q", en.Key, en.Version, v)
		}
	}
}

func checkListWithValues(e *env) {
	r := e.rng()
	sizes := []int{0, 1, 17, 1000, 4096, 100 << 10}
	var keys []string
	for i, n := range sizes {
		k := fmt.Sprintf("wv/k%d", i)
		keys = append(keys, k)
		e.mustPut(k, randomBytes(r, n), sdk.None)
	}
	e.mustPut("wv/k2", randomBytes(r, 33), sdk.None) // overwritten: List must show the new one
	e.mustPut("wv-outside", []byte("outside"), sdk.None)
	e.wantEntriesMatchGet(e.listAll(e.s, "wv/", 0, true), keys)
	e.wantEntriesMatchGet(e.listAll(e.s, "wv/", 2, true), keys)
}

func checkListWithValuesLarge(e *env) {
	r := e.rng()
	mv := e.maxValue()
	n := max(5, (5<<20)/mv+1)
	var keys []string
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("wvl/k%d", i)
		keys = append(keys, k)
		e.mustPut(k, randomBytes(r, mv), sdk.None)
	}
	e.wantEntriesMatchGet(e.listAll(e.s, "wvl/", 0, true), keys)
	e.logf("%d values of %d bytes in one listing", n, mv)
}

func checkListWithoutValues(e *env) {
	putKeys(e, []string{"nv/a", "nv/b", "nv/c"})
	for _, en := range e.listAll(e.s, "", 0, false) {
		if len(en.Value) != 0 {
			e.fatalf("List without values returns %s for key %q, want no value", describe(en.Value), en.Key)
		}
	}
}
