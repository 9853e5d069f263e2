package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/jackc/pgx/v5/pgconn"
)

// classify turns an error from pgx into an error of the Store contract that
// says what was being done (what, e.g. `put key "a/b"`) and wraps exactly one
// sentinel:
//
//   - the context's own error when ctx ended (pgx cancels the query);
//   - ErrPermissionDenied for authentication failures (SQLSTATE class 28)
//     and missing privileges (42501);
//   - ErrUnavailable, retryable, for everything a later retry may fix: an
//     unreachable server (naming host:port), a lost connection or an
//     administrator shutdown (class 08, 57P01..57P03), a statement timeout
//     (57014), a serialization failure or deadlock (40001, 40P01), a full
//     disk or exhausted resources (class 53), a read-only database or standby
//     (25006), and any unexpected error;
//   - ErrInvalidArgument when the DSN names a database that does not exist
//     (3D000).
//
// The message never holds the password: server messages do not contain it,
// connection errors are rebuilt from host and port, and scrub removes it
// from anything else as a last resort.
func (s *Store) classify(ctx context.Context, what string, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("postgres: %s: %w", what, ctxErr)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// A context of pgx's own (a connect timeout) ended, not the caller's.
		return sdk.Errorf(sdk.ErrUnavailable, "postgres: %s: timed out talking to %s", what, s.addr)
	}
	kind, msg := classifyErr(err, s.addr)
	return sdk.Errorf(kind, "postgres: %s: %s", what, s.scrub(msg))
}

// classifyErr returns the sentinel for err and a message for it.
func classifyErr(err error, addr string) (kind error, msg string) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return classifyPgError(pgErr, addr)
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		// The dial error says what happened ("dial tcp 127.0.0.1:5432:
		// connect: connection refused"); pgx's summary adds nothing useful.
		var opErr *net.OpError
		if errors.As(connErr, &opErr) {
			return sdk.ErrUnavailable, fmt.Sprintf("cannot connect to %s: %v", addr, opErr)
		}
		return sdk.ErrUnavailable, fmt.Sprintf("cannot connect to %s: %s", addr, innermost(connErr))
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, net.ErrClosed) {
		return sdk.ErrUnavailable, fmt.Sprintf("connection to %s lost: %v", addr, err)
	}
	return sdk.ErrUnavailable, err.Error()
}

func classifyPgError(e *pgconn.PgError, addr string) (error, string) {
	code := e.Code
	detail := fmt.Sprintf("%s (SQLSTATE %s)", e.Message, code)
	switch {
	case strings.HasPrefix(code, "28"): // invalid authorization specification, invalid password
		return sdk.ErrPermissionDenied, fmt.Sprintf("server %s refused the credentials: %s", addr, detail)
	case code == "42501": // insufficient_privilege
		return sdk.ErrPermissionDenied, detail
	case code == "25006": // read_only_sql_transaction
		return sdk.ErrUnavailable, "the database is read-only (a standby, or default_transaction_read_only is on): " + detail
	case code == "53100": // disk_full
		return sdk.ErrUnavailable, "the database server's disk is full: " + detail
	case strings.HasPrefix(code, "53"): // out of memory, too many connections, ...
		return sdk.ErrUnavailable, "the database server is out of resources: " + detail
	case strings.HasPrefix(code, "08"), code == "57P01", code == "57P02", code == "57P03":
		return sdk.ErrUnavailable, fmt.Sprintf("connection to %s lost or refused: %s", addr, detail)
	case code == "57014": // query_canceled, not by our context: statement_timeout
		return sdk.ErrUnavailable, "statement canceled (statement_timeout?): " + detail
	case code == "40001", code == "40P01":
		return sdk.ErrUnavailable, "transaction conflict, retry: " + detail
	case code == "3D000": // invalid_catalog_name
		return sdk.ErrInvalidArgument, fmt.Sprintf("config field %q names a database that does not exist: %s", FieldDSN, detail)
	}
	return sdk.ErrUnavailable, detail
}

// innermost returns the message of the deepest error in err's chain, which
// for a pgconn.ConnectError is the dial or server error without the
// connection summary.
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		if _, ok := next.(*pgconn.PgError); ok {
			return next.Error()
		}
		// Keep net.OpError whole: it says "dial tcp 127.0.0.1:1: connect: connection refused".
		if _, ok := next.(*net.OpError); ok {
			return next.Error()
		}
		err = next
	}
}

// scrub removes the password from msg, in case any layer ever quotes it.
func (s *Store) scrub(msg string) string {
	if len(s.password) >= 4 {
		msg = strings.ReplaceAll(msg, s.password, "xxxxx")
	}
	return msg
}
