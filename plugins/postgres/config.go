package postgres

import (
	"fmt"
	"regexp"
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
	// FieldPrefix keeps every key k as prefix/k in the table (see
	// sdk.WithPrefix), so that several stores share one table. Default: none.
	FieldPrefix = "prefix"
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

var fields = []string{FieldDSN, FieldSchema, FieldTable, FieldPrefix, FieldMaxConns, FieldStatementTimeout, FieldConnectTimeout}

// config is a validated configuration.
type config struct {
	pool   *pgxpool.Config
	schema string
	table  string
	prefix string // "" or a valid key, without the trailing '/'
}

// parseConfig validates the configuration map. Its errors name the field at
// fault and never contain the DSN, which may hold a password.
func parseConfig(m map[string]string) (*config, error) {
	r := sdk.ReadConfig(m, fields...)
	dsn := r.Required(FieldDSN)
	c := &config{schema: r.String(FieldSchema, DefaultSchema), table: r.String(FieldTable, DefaultTable), prefix: r.KeyPrefix(FieldPrefix, 256)}
	maxConns := r.Int(FieldMaxConns, 0, 1, 1000)
	statementTimeout := r.Duration(FieldStatementTimeout, 0, time.Millisecond, 0)
	connectTimeout := r.Duration(FieldConnectTimeout, 0, time.Millisecond, 0)
	if err := r.Err(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(dsn) == "" {
		return nil, sdk.ConfigError(FieldDSN, "required")
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the connection string with a best-effort
		// redaction; a malformed string can defeat it, so say nothing of
		// the value.
		return nil, sdk.ConfigError(FieldDSN, "not a valid PostgreSQL connection string or URL (value not shown: it may hold a password)")
	}
	c.pool = pc
	for _, f := range [][2]string{{FieldSchema, c.schema}, {FieldTable, c.table}} {
		if err := validIdent(f[1]); err != nil {
			return nil, sdk.ConfigError(f[0], "%q %s", f[1], err)
		}
	}
	if maxConns > 0 {
		pc.MaxConns = int32(maxConns)
	}
	if statementTimeout > 0 {
		pc.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(int64((statementTimeout+time.Millisecond-1)/time.Millisecond), 10)
	}
	if connectTimeout > 0 {
		pc.ConnConfig.ConnectTimeout = connectTimeout
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
	case len(v) > maxIdentLen:
		return fmt.Errorf("is %d bytes, more than %d", len(v), maxIdentLen)
	case !identRE.MatchString(v):
		return fmt.Errorf("is not a lower-case identifier (a-z, 0-9, _; not starting with a digit)")
	case strings.HasPrefix(v, "pg_"):
		return fmt.Errorf("starts with pg_, which PostgreSQL reserves")
	}
	return nil
}
