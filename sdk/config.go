package sdk

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ConfigError returns the error of a Factory for a bad configuration field:
// it wraps ErrInvalidArgument and names the field, as in
// `invalid argument: config field "bucket": required`. Never put a secret in
// it.
func ConfigError(field, format string, args ...any) error {
	return Errorf(ErrInvalidArgument, "config field %q: %s", field, fmt.Sprintf(format, args...))
}

// ConfigReader reads a Factory's configuration map the one way every plugin
// reads it: unknown fields are refused, each field is read with a typed getter
// that checks it, and the first error (naming its field) is kept and returned
// by Err. After an error, getters return their default, so a Factory reads
// every field and checks Err once:
//
//	r := sdk.ReadConfig(config, "path", "timeout")
//	path := r.Required("path")
//	timeout := r.Duration("timeout", 30*time.Second, time.Second, time.Hour)
//	if err := r.Err(); err != nil {
//		return nil, err
//	}
//
// A field set to the empty string is treated as absent: it gets its default.
type ConfigReader struct {
	m   map[string]string
	err error
}

// ReadConfig starts reading m, whose only valid fields are fields. An unknown
// field is the first error (the first in byte order, when there are several).
func ReadConfig(m map[string]string, fields ...string) *ConfigReader {
	r := &ConfigReader{m: m}
	var unknown []string
	for k := range m {
		known := false
		for _, f := range fields {
			known = known || k == f
		}
		if !known {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		r.err = ConfigError(unknown[0], "unknown field (known: %s)", strings.Join(fields, ", "))
	}
	return r
}

// Err returns the first error of the reading, or nil.
func (r *ConfigReader) Err() error { return r.err }

// Fail records an error for field (see ConfigError), unless an earlier error
// is recorded: for the checks that only the plugin knows.
func (r *ConfigReader) Fail(field, format string, args ...any) {
	if r.err == nil {
		r.err = ConfigError(field, format, args...)
	}
}

// value returns field's value, false when it is absent or empty or an error
// is already recorded.
func (r *ConfigReader) value(field string) (string, bool) {
	v := r.m[field]
	return v, r.err == nil && v != ""
}

// String returns field's value, or def when it is absent.
func (r *ConfigReader) String(field, def string) string {
	if v, ok := r.value(field); ok {
		return v
	}
	return def
}

// Required returns field's value; an absent field is an error.
func (r *ConfigReader) Required(field string) string {
	v, ok := r.value(field)
	if !ok {
		r.Fail(field, "required")
	}
	return v
}

// Int returns field's value as an integer in min..max, or def when it is
// absent.
func (r *ConfigReader) Int(field string, def, min, max int) int {
	v, ok := r.value(field)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.Fail(field, "%q is not an integer in %d..%d", v, min, max)
		return def
	}
	return n
}

// Bool returns field's value, "true" or "false", or def when it is absent.
func (r *ConfigReader) Bool(field string, def bool) bool {
	v, ok := r.value(field)
	if !ok {
		return def
	}
	switch v {
	case "true":
		return true
	case "false":
		return false
	}
	r.Fail(field, "%q is not true or false", v)
	return def
}

// Duration returns field's value, a Go duration such as "30s" in min..max
// (max 0: no upper bound), or def when it is absent.
func (r *ConfigReader) Duration(field string, def, min, max time.Duration) time.Duration {
	v, ok := r.value(field)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	switch {
	case max > 0 && (err != nil || d < min || d > max):
		r.Fail(field, "%q is not a duration in %v..%v (such as \"30s\")", v, min, max)
	case err != nil || d < min:
		r.Fail(field, "%q is not a duration of at least %v (such as \"30s\")", v, min)
	default:
		return d
	}
	return def
}

// Enum returns field's value, which must be one of allowed, or def when it is
// absent.
func (r *ConfigReader) Enum(field, def string, allowed ...string) string {
	v, ok := r.value(field)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.Fail(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

// KeyPrefix returns field's value as a key prefix without its trailing '/': a
// valid key (see ValidateKey) of at most max bytes, or "" when it is absent.
func (r *ConfigReader) KeyPrefix(field string, max int) string {
	v, ok := r.value(field)
	if !ok {
		return ""
	}
	p := strings.TrimSuffix(v, "/")
	if err := ValidateKey(p); err != nil {
		r.Fail(field, "%q is not a valid key prefix (segments of a-z 0-9 - _ . joined by '/'): %v", v, err)
		return ""
	}
	if len(p) > max {
		r.Fail(field, "is %d bytes, more than the maximum of %d", len(p), max)
		return ""
	}
	return p
}
