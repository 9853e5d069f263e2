package sdk

import "context"

// ValidateKey reports whether key is a valid Store key, with an error wrapping
// ErrInvalidArgument that says what is wrong.
//
// A key is 1 to MaxKeyLen bytes of '/'-separated segments. Each segment is 1 to
// MaxSegmentLen bytes of lower-case ASCII letters, digits, '-', '_' and '.', and
// is neither "." nor "..". So a key has no leading, trailing or doubled '/',
// is the same on case-insensitive file systems, and every backend stores it
// as-is.
func ValidateKey(key string) error {
	if len(key) == 0 {
		return Errorf(ErrInvalidArgument, "empty key")
	}
	if len(key) > MaxKeyLen {
		return Errorf(ErrInvalidArgument, "key %.40q... is %d bytes, more than the maximum of %d", key, len(key), MaxKeyLen)
	}
	seg := 0
	for i := 0; i <= len(key); i++ {
		if i == len(key) || key[i] == '/' {
			if seg == 0 {
				return Errorf(ErrInvalidArgument, "key %q has an empty segment (leading, trailing or doubled '/')", key)
			}
			if s := key[i-seg : i]; s == "." || s == ".." {
				return Errorf(ErrInvalidArgument, "key %q has a %q segment", key, s)
			}
			if seg > MaxSegmentLen {
				return Errorf(ErrInvalidArgument, "key %q has a segment of %d bytes, more than the maximum of %d", key, seg, MaxSegmentLen)
			}
			seg = 0
			continue
		}
		if !KeyByte(key[i]) {
			return Errorf(ErrInvalidArgument, "key %q has the character %q at byte %d (allowed: a-z 0-9 - _ . /)", key, key[i], i)
		}
		seg++
	}
	return nil
}

// ValidatePrefix reports whether prefix is a valid ListOptions.Prefix: empty,
// or made of key characters, with no empty segment except that it may end
// with '/'.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > MaxKeyLen {
		return Errorf(ErrInvalidArgument, "list prefix is %d bytes, more than the maximum of %d", len(prefix), MaxKeyLen)
	}
	p := prefix
	if p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	for i := 0; i < len(prefix); i++ {
		if prefix[i] != '/' && !KeyByte(prefix[i]) {
			return Errorf(ErrInvalidArgument, "list prefix %q has the character %q at byte %d (allowed: a-z 0-9 - _ . /)", prefix, prefix[i], i)
		}
	}
	if p == "" || p[0] == '/' {
		return Errorf(ErrInvalidArgument, "list prefix %q starts with '/'", prefix)
	}
	if p[len(p)-1] == '/' {
		return Errorf(ErrInvalidArgument, "list prefix %q ends with a doubled '/'", prefix)
	}
	for i := 1; i < len(p); i++ {
		if p[i] == '/' && p[i-1] == '/' {
			return Errorf(ErrInvalidArgument, "list prefix %q has a doubled '/'", prefix)
		}
	}
	return nil
}

// KeyByte reports whether c may appear in a key segment: a-z, 0-9, '-', '_'
// or '.' ('/' separates segments). Plugins that map keys onto their backend's
// ordering (a listing's start bound, say) use it rather than a copy.
func KeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// ValidateValue reports whether value fits within max bytes (MaxValueSize when
// max is 0), naming key in the error.
func ValidateValue(key string, value []byte, max int) error {
	if max <= 0 || max > MaxValueSize {
		max = MaxValueSize
	}
	if len(value) > max {
		return Errorf(ErrInvalidArgument, "value for key %q is %d bytes, more than the maximum of %d", key, len(value), max)
	}
	return nil
}

// ValidateCond reports whether cond is valid for a Put (del false) or a Delete
// (del true) of key.
func ValidateCond(key string, cond Cond, del bool) error {
	switch cond.mode {
	case CondNone:
		return nil
	case CondIfAbsent:
		if del {
			return Errorf(ErrInvalidArgument, "delete of key %q: if-absent is not a valid delete condition", key)
		}
		return nil
	case CondIfVersion:
		if cond.version == "" {
			return Errorf(ErrInvalidArgument, "key %q: if-version with an empty version", key)
		}
		return nil
	default:
		return Errorf(ErrInvalidArgument, "key %q: unknown condition mode %d", key, cond.mode)
	}
}

// ValidateListOptions reports whether opts are valid and returns them with
// Limit defaulted.
func ValidateListOptions(opts ListOptions) (ListOptions, error) {
	if err := ValidatePrefix(opts.Prefix); err != nil {
		return opts, err
	}
	if len(opts.StartAfter) > MaxKeyLen {
		return opts, Errorf(ErrInvalidArgument, "list start-after is %d bytes, more than the maximum of %d", len(opts.StartAfter), MaxKeyLen)
	}
	switch {
	case opts.Limit == 0:
		opts.Limit = DefaultListLimit
	case opts.Limit < 0 || opts.Limit > MaxListLimit:
		return opts, Errorf(ErrInvalidArgument, "list limit %d is outside 1..%d", opts.Limit, MaxListLimit)
	}
	return opts, nil
}

// Walk calls fn for every entry under prefix, in key order, page by page, and
// stops at the first error fn returns (which Walk returns). It is the loop
// every caller of List would otherwise write.
func Walk(ctx context.Context, s Store, prefix string, withValues bool, fn func(Entry) error) error {
	opts := ListOptions{Prefix: prefix, Limit: DefaultListLimit, WithValues: withValues}
	empty := 0
	for {
		page, err := s.List(ctx, opts)
		if err != nil {
			return err
		}
		if len(page.Entries) == 0 && page.More {
			if empty++; empty > maxEmptyPages {
				return Errorf(ErrUnavailable, "store returned %d empty pages in a row while listing %q", empty, prefix)
			}
		} else {
			empty = 0
		}
		for _, e := range page.Entries {
			if e.Key <= opts.StartAfter && opts.StartAfter != "" {
				return Errorf(ErrUnavailable, "store listed key %q out of order (after %q)", e.Key, opts.StartAfter)
			}
			if err := fn(e); err != nil {
				return err
			}
			opts.StartAfter = e.Key
		}
		if !page.More {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// maxEmptyPages bounds how many empty pages with More set Walk accepts in a
// row, so that a broken store cannot make it loop forever.
const maxEmptyPages = 100

// CheckCond decides cond for a Store that reads a key's current state and
// then writes while holding a lock (a file lock, a mutex): exists and current
// describe the key at that moment. It returns nil when the write may go ahead,
// else the error the contract prescribes: ErrConflict for a key that exists
// under IfAbsent or has another version under IfVersion, ErrNotFound for a
// missing key under IfVersion.
func CheckCond(key string, cond Cond, exists bool, current Version) error {
	switch cond.mode {
	case CondIfAbsent:
		if exists {
			return Errorf(ErrConflict, "key %q already exists", key)
		}
	case CondIfVersion:
		if !exists {
			return Errorf(ErrNotFound, "key %q", key)
		}
		if current != cond.version {
			return Errorf(ErrConflict, "key %q is at another version than %q", key, cond.version)
		}
	}
	return nil
}
