package postgres

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Configuration fields accepted by New.
const (
	// FieldDSN is the PostgreSQL connection string (URL or keyword/value
	// form), required. TLS is configured through it (sslmode, sslrootcert,
	// sslcert, sslkey). Its password is never logged or echoed.
	FieldDSN = "dsn"
	// FieldSchema is the schema holding the store's tables, created when
	// missing. Default "aileron_store".
	FieldSchema = "schema"
	// FieldTable is the table holding the blobs. Default "blobs". Several
	// stores may share a schema with different tables.
	FieldTable = "table"
	// FieldMaxConns is the pool's maximum number of connections, 1..1000.
	// Default: pgxpool's (the greater of 4 and the number of CPUs), or
	// pool_max_conns in the DSN.
	FieldMaxConns = "max_conns"
	// FieldStatementTimeout is a Go duration (e.g. "30s") after which the
	// server cancels a statement. Default: the server's or the DSN's setting.
	FieldStatementTimeout = "statement_timeout"
	// FieldConnectTimeout is a Go duration bounding each connection attempt.
	// Default: the DSN's connect_timeout, else 10s.
	FieldConnectTimeout = "connect_timeout"
)

// Defaults of the optional fields.
const (
	DefaultSchema         = "aileron_store"
	DefaultTable          = "blobs"
	DefaultConnectTimeout = 10 * time.Second
)

// maxIdentLen leaves room under PostgreSQL's 63-byte limit for the
// "_version_seq" suffix of the table's sequence.
const maxIdentLen = 48

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

var knownFields = map[string]bool{
	FieldDSN: true, FieldSchema: true, FieldTable: true,
	FieldMaxConns: true, FieldStatementTimeout: true, FieldConnectTimeout: true,
}

// config is a validated configuration.
type config struct {
	pool   *pgxpool.Config
	schema string
	table  string
}

func fieldErr(field, format string, args ...any) error {
	return sdk.Errorf(sdk.ErrInvalidArgument, "config field %q: %s", field, fmt.Sprintf(format, args...))
}

// parseConfig validates the configuration map. Its errors name the field at
// fault and never contain the DSN, which may hold a password.
func parseConfig(m map[string]string) (*config, error) {
	var unknown []string
	for k := range m {
		if !knownFields[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fieldErr(unknown[0], "unknown field (known: dsn, schema, table, max_conns, statement_timeout, connect_timeout)")
	}

	dsn := m[FieldDSN]
	if strings.TrimSpace(dsn) == "" {
		return nil, fieldErr(FieldDSN, "required")
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the connection string with a best-effort
		// redaction; a malformed string can defeat it, so say nothing of
		// the value.
		return nil, fieldErr(FieldDSN, "not a valid PostgreSQL connection string or URL (value not shown: it may hold a password)")
	}
	c := &config{pool: pc, schema: DefaultSchema, table: DefaultTable}

	for _, f := range []struct {
		name string
		dst  *string
	}{{FieldSchema, &c.schema}, {FieldTable, &c.table}} {
		v, ok := m[f.name]
		if !ok {
			continue
		}
		if err := validIdent(v); err != nil {
			return nil, fieldErr(f.name, "%q %s", v, err)
		}
		*f.dst = v
	}

	if v, ok := m[FieldMaxConns]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, fieldErr(FieldMaxConns, "%q is not an integer in 1..1000", v)
		}
		pc.MaxConns = int32(n)
	}
	if v, ok := m[FieldStatementTimeout]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Millisecond {
			return nil, fieldErr(FieldStatementTimeout, "%q is not a duration of at least 1ms (e.g. \"30s\")", v)
		}
		pc.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
	}
	if v, ok := m[FieldConnectTimeout]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Millisecond {
			return nil, fieldErr(FieldConnectTimeout, "%q is not a duration of at least 1ms (e.g. \"10s\")", v)
		}
		pc.ConnConfig.ConnectTimeout = d
	} else if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		pc.ConnConfig.RuntimeParams["application_name"] = "aileron-store"
	}
	return c, nil
}

func validIdent(v string) error {
	switch {
	case v == "":
		return fmt.Errorf("is empty")
	case len(v) > maxIdentLen:
		return fmt.Errorf("is %d bytes, more than %d", len(v), maxIdentLen)
	case !identRE.MatchString(v):
		return fmt.Errorf("is not a lower-case identifier (a-z, 0-9, _; not starting with a digit)")
	case strings.HasPrefix(v, "pg_"):
		return fmt.Errorf("starts with pg_, which PostgreSQL reserves")
	}
	return nil
}
