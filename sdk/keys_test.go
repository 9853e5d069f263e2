package sdk

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateKey(t *testing.T) {
	good := []string{"a", "a/b", "v/0123456789abcdef/r/x-y_z.w", strings.Repeat("a", MaxSegmentLen),
		strings.TrimSuffix(strings.Repeat(strings.Repeat("b", 127)+"/", 4), "/")}
	for _, k := range good {
		if err := ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", k, err)
		}
	}
	bad := []string{"", "/a", "a/", "a//b", "A", "a b", "a/./b", "..", "é", "a\x00",
		strings.Repeat("a", MaxSegmentLen+1), strings.Repeat("abc/", 200) + "x"}
	for _, k := range bad {
		err := ValidateKey(k)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidArgument", k, err)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, p := range []string{"", "a", "a/", "a-", "a/b/"} {
		if err := ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"/", "/a", "a//", "A/", "a b"} {
		if err := ValidatePrefix(p); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ValidatePrefix(%q) = %v, want ErrInvalidArgument", p, err)
		}
	}
}

func TestErrorfAndKind(t *testing.T) {
	err := Errorf(ErrNotFound, "key %q", "a/b")
	if got, want := err.Error(), `not found: key "a/b"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if Kind(err) != ErrNotFound || !errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		t.Errorf("Kind(%v) = %v", err, Kind(err))
	}
	if Kind(errors.New("x")) != nil {
		t.Error("Kind of a plain error is not nil")
	}
}

func TestValidateCond(t *testing.T) {
	if err := ValidateCond("k", IfAbsent(), true); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("delete if-absent: %v", err)
	}
	if err := ValidateCond("k", IfVersion(""), false); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty version: %v", err)
	}
	if err := ValidateCond("k", IfVersion("v1"), true); err != nil {
		t.Errorf("delete if-version: %v", err)
	}
}

func TestCheckCond(t *testing.T) {
	cases := []struct {
		cond    Cond
		exists  bool
		current Version
		want    error
	}{
		{None, false, "", nil},
		{None, true, "v1", nil},
		{IfAbsent(), false, "", nil},
		{IfAbsent(), true, "v1", ErrConflict},
		{IfVersion("v1"), true, "v1", nil},
		{IfVersion("v1"), true, "v2", ErrConflict},
		{IfVersion("v1"), false, "", ErrNotFound},
	}
	for _, c := range cases {
		err := CheckCond("k", c.cond, c.exists, c.current)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("CheckCond(%v, exists=%v, %q) = %v, want %v", c.cond, c.exists, c.current, err, c.want)
		}
	}
}
