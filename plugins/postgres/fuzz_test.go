package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk"
)

// FuzzLowerBound: for any StartAfter and any key made of key bytes, the SQL
// bound selects the key exactly when byte order puts it after StartAfter.
func FuzzLowerBound(f *testing.F) {
	for _, s := range [][2]string{{"a\x00", "a-"}, {"a\xff", "b"}, {"aA", "a_"}, {"\xff", "z"}, {"a/b", "a/b/c"}, {"", "a"}, {"z{", "zz"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, startAfter, raw string) {
		// Make raw a string of key bytes.
		const alphabet = "-./0123456789_abcdefghijklmnopqrstuvwxyz"
		var b strings.Builder
		for i := 0; i < len(raw) && i < 64; i++ {
			b.WriteByte(alphabet[int(raw[i])%len(alphabet)])
		}
		key := b.String()
		bound, inclusive, none := lowerBound(startAfter)
		for i := 0; i < len(bound); i++ {
			if c := bound[i]; c == 0 || c >= 0x80 {
				t.Fatalf("lowerBound(%q) = %q holds byte %#x that PostgreSQL text cannot", startAfter, bound, c)
			}
		}
		want := key > startAfter
		var got bool
		switch {
		case none:
			got = false
		case inclusive:
			got = key >= bound
		default:
			got = key > bound
		}
		if got != want {
			t.Fatalf("key %q after %q: bound %q inclusive=%v none=%v selects it=%v, byte order says %v", key, startAfter, bound, inclusive, none, got, want)
		}
	})
}

// FuzzParseConfig: any configuration either parses or is an
// ErrInvalidArgument naming a field, never panics, and never echoes the
// DSN's password.
func FuzzParseConfig(f *testing.F) {
	f.Add("postgres://u:SECRETxyz@h:5432/db", "s", "t", "4", "1s", "2s")
	f.Add("host=h password=SECRETxyz port=x", "Bad", "", "0", "x", "-1s")
	f.Add("postgres://u:SECRETxyz@h:port/db?sslmode=nope", "a_b", "c", "1001", "1ms", "1h")
	f.Add("user=u password='SECRETxyz' sslmode=verify-full sslrootcert=/nonexistent", "aileron", "blobs", "", "", "")
	f.Fuzz(func(t *testing.T, dsn, schema, table, maxConns, stmt, conn string) {
		cfg := map[string]string{"dsn": dsn}
		for k, v := range map[string]string{"schema": schema, "table": table, "max_conns": maxConns, "statement_timeout": stmt, "connect_timeout": conn} {
			if v != "" {
				cfg[k] = v
			}
		}
		_, err := parseConfig(cfg)
		if err == nil {
			return
		}
		if !errors.Is(err, sdk.ErrInvalidArgument) || sdk.Kind(err) != sdk.ErrInvalidArgument {
			t.Fatalf("error %v does not wrap exactly ErrInvalidArgument", err)
		}
		if !strings.Contains(err.Error(), `config field "`) {
			t.Fatalf("error %q names no field", err)
		}
		if strings.Contains(dsn, "SECRETxyz") && strings.Contains(err.Error(), "SECRETxyz") {
			t.Fatalf("error %q echoes the password", err)
		}
	})
}
