// Package hostclient is the Go client of the local API of aileron-store-host
// (version 1, api/hostapi/v1/hostapi.proto): the agent runtime's way to read
// and write credentials through a running `aileron-store-host serve`,
// without holding backend credentials or identity files itself.
//
//	c, err := hostclient.Dial(ctx, "/home/agent/.aileron-store/serve.sock", nil)
//	...
//	defer c.Close()
//	v, err := c.Unlock(ctx, "team", "bob", passphrase) // unwraps the vault key once
//	...
//	defer v.Lock(ctx)
//	token, err := v.Get(ctx, "github-token") // one backend read, one decryption
//
// The session token stays inside the *Vault. Errors wrap the sentinels of
// packages core and sdk, the same an embedded engine returns, so code that
// handles errors.Is(err, core.ErrCredentialNotFound) works with both ways in
// (the most used are also exported here, e.g. ErrCredentialNotFound):
//
//	core.ErrWrongPassphrase     Unlock: the passphrase does not open the identity
//	core.ErrLocked              the session ended (expired, locked, server restarted): Unlock again
//	core.ErrNotMember           Unlock: the identity is not (or no longer) a member
//	core.ErrVaultNotFound       Unlock: no such vault for the identity
//	ErrUnknownIdentity          Unlock: no such identity in the server's home
//	core.ErrCredentialNotFound  Get, Delete: no credential of that name
//	core.ErrTampered            stored data failed authentication
//	core.ErrRollback            the backend served older data than the server has seen
//	sdk.ErrUnavailable          the server or its backend is unreachable: retry
//	sdk.ErrConflict             a write lost a race with another writer: retry
//	sdk.ErrInvalidArgument      a required argument is empty
//	sdk.ErrPermissionDenied     the backend refused the server access
//	ErrNotLogged                the server could not write its access log, so it refused the call
//	context.Canceled, context.DeadlineExceeded
//
// Any other failure is an error wrapping none of them, with the server's
// message.
package hostclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	hostapi "github.com/ALRubinger/aileron-store/api/hostapi/v1"
	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/sdk"
)

// The sentinels of packages core and sdk that this package's errors wrap,
// under this package's name, so that a runtime can test errors importing
// this package alone: hostclient.ErrCredentialNotFound is
// core.ErrCredentialNotFound.
var (
	ErrWrongPassphrase    = core.ErrWrongPassphrase
	ErrLocked             = core.ErrLocked
	ErrNotMember          = core.ErrNotMember
	ErrVaultNotFound      = core.ErrVaultNotFound
	ErrCredentialNotFound = core.ErrCredentialNotFound
	ErrTampered           = core.ErrTampered
	ErrRollback           = core.ErrRollback
	ErrUnavailable        = sdk.ErrUnavailable
	ErrConflict           = sdk.ErrConflict
)

var (
	// ErrUnknownIdentity: Unlock named an identity the server's home
	// directory does not hold.
	ErrUnknownIdentity = errors.New("unknown identity")
	// ErrNotLogged: the server runs with an access log (serve --audit-log)
	// and could not record the call, so it did not serve it. For Put and
	// Delete the write may have happened; the log's "started" line says so.
	ErrNotLogged = errors.New("the server could not record the call in its access log")
)

// maxMessageSize matches the server's limit: a maximum-size value plus
// framing.
const maxMessageSize = sdk.MaxValueSize + 64<<10

// Options tune Dial. A nil *Options means the defaults.
type Options struct {
	// SessionTTL asks for sessions shorter than the server's --session-ttl,
	// in whole seconds; 0, less than a second, or more than the server's
	// means the server's.
	SessionTTL time.Duration
}

// Client is a connection to the local API. It is safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn
	rpc  hostapi.VaultClient
	ttl  time.Duration
}

// Dial connects to the server listening on the unix socket at socketPath
// and waits until the connection is ready or ctx ends. An absent socket or a
// server that does not answer is an error wrapping sdk.ErrUnavailable.
func Dial(ctx context.Context, socketPath string, opts *Options) (*Client, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.SessionTTL < 0 {
		return nil, fmt.Errorf("hostclient: %w: negative SessionTTL", sdk.ErrInvalidArgument)
	}
	abs, err := filepath.Abs(socketPath)
	if err != nil {
		return nil, fmt.Errorf("hostclient: socket %q: %w", socketPath, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("hostclient: %w: no socket at %s (is `aileron-store-host serve` running?): %v", sdk.ErrUnavailable, abs, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return nil, fmt.Errorf("hostclient: %s is not a socket", abs)
	}
	conn, err := grpc.NewClient("unix://"+abs,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize)))
	if err != nil {
		return nil, fmt.Errorf("hostclient: %s: %w", abs, err)
	}
	conn.Connect()
	for {
		s := conn.GetState()
		if s == connectivity.Ready {
			break
		}
		// TransientFailure: nothing accepts connections on the socket (a
		// stale socket file of a stopped server).
		if s == connectivity.TransientFailure || s == connectivity.Shutdown || !conn.WaitForStateChange(ctx, s) {
			conn.Close()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("hostclient: connecting to %s: %w (%w)", abs, sdk.ErrUnavailable, ctx.Err())
			}
			return nil, fmt.Errorf("hostclient: connecting to %s: %w", abs, sdk.ErrUnavailable)
		}
	}
	return &Client{conn: conn, rpc: hostapi.NewVaultClient(conn), ttl: o.SessionTTL}, nil
}

// Close closes the connection. It does not lock open vaults: Lock them
// first (or let their sessions expire).
func (c *Client) Close() error { return c.conn.Close() }

// Unlock opens vault as identity (an identity file of the server's home
// directory) with passphrase (nil for an identity made with
// --no-passphrase). The server unwraps the vault key once and keeps it
// until the session's TTL passes or Lock. Unlock does not keep passphrase;
// the caller clears it.
func (c *Client) Unlock(ctx context.Context, vault, identity string, passphrase []byte) (*Vault, error) {
	if vault == "" || identity == "" {
		return nil, fmt.Errorf("hostclient: %w: vault and identity are required", sdk.ErrInvalidArgument)
	}
	req := &hostapi.UnlockRequest{Vault: vault, Identity: identity, Passphrase: passphrase, TtlSeconds: int64(c.ttl / time.Second)}
	resp, err := c.rpc.Unlock(ctx, req)
	if err != nil {
		return nil, mapErr(err, "unlock", vault)
	}
	return &Vault{c: c, name: vault, token: resp.GetSession(), expires: time.Unix(resp.GetExpiresUnix(), 0)}, nil
}

// Vault is an unlocked vault: a session of the server. It is safe for
// concurrent use. After Lock, or once the server ended the session, every
// call returns an error wrapping core.ErrLocked.
type Vault struct {
	c       *Client
	name    string
	expires time.Time

	mu    sync.Mutex
	token string // "" once locked
}

// Name returns the vault's name.
func (v *Vault) Name() string { return v.name }

// Expires returns when the server ends the session (server clock).
func (v *Vault) Expires() time.Time { return v.expires }

func (v *Vault) session() (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.token == "" {
		return "", fmt.Errorf("hostclient: vault %q: %w", v.name, core.ErrLocked)
	}
	return v.token, nil
}

// Get returns the value of credential name, byte for byte. The caller owns
// (and should clear) the returned slice.
func (v *Vault) Get(ctx context.Context, name string) ([]byte, error) {
	tok, err := v.session()
	if err != nil {
		return nil, err
	}
	resp, err := v.c.rpc.Get(ctx, &hostapi.GetRequest{Session: tok, Name: name})
	if err != nil {
		return nil, mapErr(err, "get", v.name)
	}
	return resp.GetValue(), nil
}

// Put stores value as credential name, creating or replacing it.
func (v *Vault) Put(ctx context.Context, name string, value []byte) error {
	tok, err := v.session()
	if err != nil {
		return err
	}
	if _, err := v.c.rpc.Put(ctx, &hostapi.PutRequest{Session: tok, Name: name, Value: value}); err != nil {
		return mapErr(err, "put", v.name)
	}
	return nil
}

// List returns the names of the vault's credentials, sorted.
func (v *Vault) List(ctx context.Context) ([]string, error) {
	tok, err := v.session()
	if err != nil {
		return nil, err
	}
	resp, err := v.c.rpc.List(ctx, &hostapi.ListRequest{Session: tok})
	if err != nil {
		return nil, mapErr(err, "list", v.name)
	}
	return resp.GetNames(), nil
}

// Delete removes credential name.
func (v *Vault) Delete(ctx context.Context, name string) error {
	tok, err := v.session()
	if err != nil {
		return err
	}
	if _, err := v.c.rpc.Delete(ctx, &hostapi.DeleteRequest{Session: tok, Name: name}); err != nil {
		return mapErr(err, "delete", v.name)
	}
	return nil
}

// Lock ends the session: the server clears the vault key. The handle is
// unusable afterwards even if the call fails (the session then ends at its
// expiry). Locking twice is not an error.
func (v *Vault) Lock(ctx context.Context) error {
	v.mu.Lock()
	tok := v.token
	v.token = ""
	v.mu.Unlock()
	if tok == "" {
		return nil
	}
	if _, err := v.c.rpc.Lock(ctx, &hostapi.LockRequest{Session: tok}); err != nil {
		return mapErr(err, "lock", v.name)
	}
	return nil
}

// reasons maps the ErrorInfo reasons of the server to sentinels.
var reasons = map[string]error{
	"WRONG_PASSPHRASE":          core.ErrWrongPassphrase,
	"SESSION_ENDED":             core.ErrLocked,
	"NOT_MEMBER":                core.ErrNotMember,
	"NOT_ADMIN":                 core.ErrNotAdmin,
	"UNKNOWN_IDENTITY":          ErrUnknownIdentity,
	"VAULT_NOT_FOUND":           core.ErrVaultNotFound,
	"CREDENTIAL_NOT_FOUND":      core.ErrCredentialNotFound,
	"TAMPERED":                  core.ErrTampered,
	"ROLLBACK":                  core.ErrRollback,
	"CONFLICT":                  sdk.ErrConflict,
	"BACKEND_UNAVAILABLE":       sdk.ErrUnavailable,
	"BACKEND_PERMISSION_DENIED": sdk.ErrPermissionDenied,
	"BACKEND_NOT_FOUND":         sdk.ErrNotFound,
	"INVALID_ARGUMENT":          sdk.ErrInvalidArgument,
	"AUDIT_LOG_FAILED":          ErrNotLogged,
}

// byCode is the fallback for a status without a known reason (a server of
// another version, or an error raised by gRPC itself).
var byCode = map[codes.Code]error{
	codes.Canceled:         context.Canceled,
	codes.DeadlineExceeded: context.DeadlineExceeded,
	codes.Unavailable:      sdk.ErrUnavailable,
	codes.Aborted:          sdk.ErrConflict,
	codes.InvalidArgument:  sdk.ErrInvalidArgument,
	codes.DataLoss:         core.ErrTampered,
}

// callError is an error of the server: its message, wrapping a sentinel.
type callError struct {
	op, vault, msg string
	sentinel       error
}

func (e *callError) Error() string {
	return fmt.Sprintf("hostclient: %s in vault %q: %s", e.op, e.vault, e.msg)
}
func (e *callError) Unwrap() error { return e.sentinel }

func mapErr(err error, op, vault string) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("hostclient: %s in vault %q: %w", op, vault, err)
	}
	var sentinel error
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == "aileron-store.host" {
			sentinel = reasons[info.GetReason()]
		}
	}
	if sentinel == nil {
		sentinel = byCode[st.Code()]
	}
	return &callError{op: op, vault: vault, msg: st.Message(), sentinel: sentinel}
}
