package postgres

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/jackc/pgx/v5/pgconn"
)

const testDSN = "postgres://alice:hunter2-secret@db.example:5433/app?sslmode=require"

func TestConfigRejects(t *testing.T) {
	long := strings.Repeat("a", maxIdentLen+1)
	cases := []struct {
		name  string
		cfg   map[string]string
		field string
		want  string
	}{
		{"missing dsn", map[string]string{}, "dsn", "required"},
		{"blank dsn", map[string]string{"dsn": "  "}, "dsn", "required"},
		{"unparsable url dsn", map[string]string{"dsn": "postgres://alice:hunter2-secret@db.example:notaport/app"}, "dsn", "not a valid"},
		{"unparsable kv dsn", map[string]string{"dsn": "host=db password=hunter2-secret sslmode=bogus"}, "dsn", "not a valid"},
		{"unknown field", map[string]string{"dsn": testDSN, "tabel": "x"}, "tabel", "unknown field"},
		{"unknown field even without dsn", map[string]string{"password": "hunter2-secret"}, "password", "unknown field"},
		{"upper-case schema", map[string]string{"dsn": testDSN, "schema": "Store"}, "schema", "lower-case"},
		{"quote in schema", map[string]string{"dsn": testDSN, "schema": `a"b`}, "schema", "lower-case"},
		{"digit-first schema", map[string]string{"dsn": testDSN, "schema": "1abc"}, "schema", "lower-case"},
		{"pg_ schema", map[string]string{"dsn": testDSN, "schema": "pg_store"}, "schema", "reserves"},
		{"long schema", map[string]string{"dsn": testDSN, "schema": long}, "schema", "more than"},
		{"dotted table", map[string]string{"dsn": testDSN, "table": "a.b"}, "table", "lower-case"},
		{"space table", map[string]string{"dsn": testDSN, "table": "a b"}, "table", "lower-case"},
		{"long table", map[string]string{"dsn": testDSN, "table": long}, "table", "more than"},
		{"upper-case prefix", map[string]string{"dsn": testDSN, "prefix": "Team"}, "prefix", "not a valid key prefix"},
		{"doubled slash prefix", map[string]string{"dsn": testDSN, "prefix": "a//b"}, "prefix", "not a valid key prefix"},
		{"max_conns zero", map[string]string{"dsn": testDSN, "max_conns": "0"}, "max_conns", "1..1000"},
		{"max_conns negative", map[string]string{"dsn": testDSN, "max_conns": "-3"}, "max_conns", "1..1000"},
		{"max_conns text", map[string]string{"dsn": testDSN, "max_conns": "ten"}, "max_conns", "1..1000"},
		{"max_conns huge", map[string]string{"dsn": testDSN, "max_conns": "1001"}, "max_conns", "1..1000"},
		{"statement_timeout text", map[string]string{"dsn": testDSN, "statement_timeout": "soon"}, "statement_timeout", "duration"},
		{"statement_timeout bare number", map[string]string{"dsn": testDSN, "statement_timeout": "30"}, "statement_timeout", "duration"},
		{"statement_timeout zero", map[string]string{"dsn": testDSN, "statement_timeout": "0s"}, "statement_timeout", "at least 1ms"},
		{"statement_timeout negative", map[string]string{"dsn": testDSN, "statement_timeout": "-1s"}, "statement_timeout", "at least 1ms"},
		{"statement_timeout sub-ms", map[string]string{"dsn": testDSN, "statement_timeout": "500us"}, "statement_timeout", "at least 1ms"},
		{"connect_timeout text", map[string]string{"dsn": testDSN, "connect_timeout": "later"}, "connect_timeout", "duration"},
		{"connect_timeout zero", map[string]string{"dsn": testDSN, "connect_timeout": "0"}, "connect_timeout", "at least 1ms"},
		{"connect_timeout negative", map[string]string{"dsn": testDSN, "connect_timeout": "-5s"}, "connect_timeout", "at least 1ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.cfg)
			if !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Fatalf("parseConfig(%s) = %v, want ErrInvalidArgument", tc.name, err)
			}
			if sdk.Kind(err) != sdk.ErrInvalidArgument {
				t.Fatalf("error %v wraps %v, want exactly ErrInvalidArgument", err, sdk.Kind(err))
			}
			msg := err.Error()
			if !strings.Contains(msg, `config field "`+tc.field+`"`) {
				t.Errorf("error %q does not name field %q", msg, tc.field)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("error %q holds the password", msg)
			}
		})
	}
}

func TestConfigAccepts(t *testing.T) {
	// An empty field is an absent one (sdk.ConfigReader): its default.
	c, err := parseConfig(map[string]string{"dsn": testDSN, "schema": "", "table": ""})
	if err != nil {
		t.Fatal(err)
	}
	if c.schema != DefaultSchema || c.table != DefaultTable {
		t.Errorf("defaults: schema %q table %q", c.schema, c.table)
	}
	if got := c.pool.ConnConfig.ConnectTimeout; got != DefaultConnectTimeout {
		t.Errorf("default connect timeout %v, want %v", got, DefaultConnectTimeout)
	}
	if _, ok := c.pool.ConnConfig.RuntimeParams["statement_timeout"]; ok {
		t.Errorf("statement_timeout set without being configured")
	}
	if c.pool.ConnConfig.TLSConfig == nil {
		t.Errorf("sslmode=require in the DSN did not configure TLS")
	}
	if c.pool.ConnConfig.Host != "db.example" || c.pool.ConnConfig.Port != 5433 {
		t.Errorf("host %q port %d", c.pool.ConnConfig.Host, c.pool.ConnConfig.Port)
	}

	c, err = parseConfig(map[string]string{
		"dsn": testDSN, "schema": "tenant_7", "table": "vault_blobs", "prefix": "team/a/",
		"max_conns": "7", "statement_timeout": "1500ms", "connect_timeout": "2s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.schema != "tenant_7" || c.table != "vault_blobs" || c.prefix != "team/a" {
		t.Errorf("schema %q table %q prefix %q", c.schema, c.table, c.prefix)
	}
	if c.pool.MaxConns != 7 {
		t.Errorf("max conns %d, want 7", c.pool.MaxConns)
	}
	if got := c.pool.ConnConfig.RuntimeParams["statement_timeout"]; got != "1500" {
		t.Errorf("statement_timeout %q, want 1500 (ms)", got)
	}
	if got := c.pool.ConnConfig.ConnectTimeout; got != 2*time.Second {
		t.Errorf("connect timeout %v, want 2s", got)
	}

	// The DSN's own connect_timeout (seconds) is kept when the field is absent.
	c, err = parseConfig(map[string]string{"dsn": "host=db user=u password=hunter2-secret connect_timeout=3"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.pool.ConnConfig.ConnectTimeout; got != 3*time.Second {
		t.Errorf("DSN connect_timeout gave %v, want 3s", got)
	}
}

func TestSuccessor(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"a/", "a0", true},
		{"a_", "a`", true},
		{"az", "a{", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
	} {
		got, ok := successor(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("successor(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLowerBound(t *testing.T) {
	for _, tc := range []struct {
		in, want        string
		inclusive, none bool
	}{
		{"", "", false, false},
		{"a/b", "a/b", false, false},
		{"a\x00", "a-", true, false},
		{"a\xff", "b", true, false},
		{"a/\xff", "a0", true, false},
		{"aA", "a_", true, false},
		{"a~", "b", true, false},
		{"a ", "a-", true, false},
		{"a:b", "a_", true, false},
		{"a`", "aa", true, false},
		{"\xff", "", true, true},
		{"z{", "{", true, false},
	} {
		got, inc, none := lowerBound(tc.in)
		if got != tc.want || inc != tc.inclusive || none != tc.none {
			t.Errorf("lowerBound(%q) = %q, %v, %v; want %q, %v, %v", tc.in, got, inc, none, tc.want, tc.inclusive, tc.none)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   sdk.Version
		want int64
		ok   bool
	}{
		{"1", 1, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"0", 0, false},
		{"-1", 0, false},
		{"007", 0, false},
		{"+7", 0, false},
		{"7 ", 0, false},
		{"abc", 0, false},
		{"9223372036854775808", 0, false},
	} {
		got, ok := parseVersion(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseVersion(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestClassifyPgError(t *testing.T) {
	for _, tc := range []struct {
		code string
		kind error
		says string
	}{
		{"28P01", sdk.ErrPermissionDenied, "refused the credentials"},
		{"28000", sdk.ErrPermissionDenied, "refused the credentials"},
		{"42501", sdk.ErrPermissionDenied, "42501"},
		{"25006", sdk.ErrUnavailable, "read-only"},
		{"53100", sdk.ErrUnavailable, "disk is full"},
		{"53300", sdk.ErrUnavailable, "out of resources"},
		{"08006", sdk.ErrUnavailable, "lost"},
		{"57P01", sdk.ErrUnavailable, "lost"},
		{"57P03", sdk.ErrUnavailable, "lost"},
		{"57014", sdk.ErrUnavailable, "statement_timeout"},
		{"40001", sdk.ErrUnavailable, "retry"},
		{"40P01", sdk.ErrUnavailable, "retry"},
		{"3D000", sdk.ErrInvalidArgument, `config field "dsn"`},
		{"XX000", sdk.ErrUnavailable, "XX000"},
	} {
		kind, msg := classifyErr(&pgconn.PgError{Severity: "ERROR", Code: tc.code, Message: "server says"}, "127.0.0.1:5432")
		if kind != tc.kind || !strings.Contains(msg, tc.says) || !strings.Contains(msg, "server says") {
			t.Errorf("SQLSTATE %s: %v %q; want %v and a message saying %q", tc.code, kind, msg, tc.kind, tc.says)
		}
	}
}

func TestScrub(t *testing.T) {
	s := &Store{password: "hunter2-secret"}
	if got := s.scrub("auth failed for hunter2-secret!"); strings.Contains(got, "hunter2") {
		t.Errorf("scrub left the password: %q", got)
	}
}
