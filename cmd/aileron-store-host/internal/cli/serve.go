package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/serve"
	"github.com/ALRubinger/aileron-store/core"
)

// The range of serve's --session-ttl.
const (
	minSessionTTL = time.Second
	maxSessionTTL = 24 * time.Hour
)

func (a *App) serveCmd() *cobra.Command {
	var socket, auditLog string
	var ttl time.Duration
	c := &cobra.Command{
		Use:   "serve [--socket PATH]",
		Short: "Serve the local API for the trusted runtime on a unix socket",
		Long: `Serve the local API (gRPC service aileron.store.host.v1.Vault, see
api/hostapi/v1/hostapi.proto) on a unix socket that only this user can
reach: the socket is created 0600 in a directory that must be accessible by
this user alone (created 0700 if missing), and connections from other users
are dropped.

A client calls Unlock(vault, identity, passphrase) once and gets a session
token; Get, Put, List and Delete then use the unlocked vault key until the
session's TTL passes or the client calls Lock. The passphrase travels only
over the socket and is cleared after use.

With --audit-log FILE every call is appended to FILE as one JSON line (time,
caller's uid and pid, identity, vault, operation, outcome, the credential
name as an HMAC: see "audit hash"); a call that cannot be logged is refused.

The server runs until interrupted (SIGINT or SIGTERM), then locks every
session.`,
		Example: `  aileron-store-host serve
  aileron-store-host serve --socket /run/user/1000/aileron/store.sock --session-ttl 5m
  aileron-store-host serve --audit-log /var/log/aileron/access.log`,
		Args: exactArgs(0, ""),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := a.setup(); err != nil {
				return err
			}
			if socket == "" {
				socket = filepath.Join(a.home, "serve.sock")
			}
			if ttl < minSessionTTL || ttl > maxSessionTTL {
				return usagef("--session-ttl %s is out of range: want %s to %s", ttl, minSessionTTL, maxSessionTTL)
			}
			// The engine keeps each unlocked vault for the same TTL (a
			// session cannot outlive its vault handle).
			a.sessionTTL = ttl
			e, b, closeFn, err := a.engine(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			opts := &serve.Options{TTL: ttl, Logger: a.logger().Named("serve")}
			if auditLog != "" {
				if opts.Audit, err = a.openAuditLog(auditLog); err != nil {
					return err
				}
				defer opts.Audit.Close()
			}
			l, err := serve.Listen(socket)
			if err != nil {
				return err
			}
			srv := serve.New(&serveOpener{a: a, e: e}, opts)
			fmt.Fprintf(a.Stderr, "serving vaults from backend %q on %s (session TTL %s); stop with Ctrl-C\n", b.name, l.Addr(), ttl)
			a.logger().Info("serving", "socket", l.Addr().String(), "backend", b.name, "session_ttl", ttl.String())
			err = serve.Run(ctx, l, srv)
			a.logger().Info("stopped serving", "socket", l.Addr().String())
			return err
		}),
	}
	c.Flags().StringVar(&socket, "socket", "", "unix socket `PATH` (default <home>/serve.sock)")
	c.Flags().DurationVar(&ttl, "session-ttl", 15*time.Minute, "longest lifetime of an unlocked session, 1s to 24h")
	c.Flags().StringVar(&auditLog, "audit-log", "", "append every call to `FILE` as a JSON line; a call that cannot be logged is refused")
	return c
}

// serveOpener opens identities from the home directory and vaults from e.
type serveOpener struct {
	a *App
	e *core.Engine
}

// OpenIdentity reads identity's file and opens it with the passphrase a
// client sent (the Argon2id step, which serve runs one at a time).
func (o *serveOpener) OpenIdentity(ctx context.Context, identity string, passphrase []byte) (serve.Identity, error) {
	if !nameRE.MatchString(identity) {
		return nil, fmt.Errorf("identity %q: %w", identity, serve.ErrUnknownIdentity)
	}
	data, err := os.ReadFile(filepath.Join(o.a.identityDir(), identity+keyExt))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("identity %q: %w", identity, serve.ErrUnknownIdentity)
	}
	if err != nil {
		return nil, fmt.Errorf("identity %q: %w", identity, err)
	}
	defer clear(data)
	id, err := core.ParseIdentity(data, func() ([]byte, error) {
		if len(passphrase) == 0 {
			return nil, fmt.Errorf("identity %q is sealed and no passphrase was sent: %w", identity, core.ErrWrongPassphrase)
		}
		return append([]byte(nil), passphrase...), nil
	})
	if err != nil {
		return nil, fmt.Errorf("identity %q: %w", identity, err)
	}
	return id, nil
}

// UnlockVault unlocks vault as id, an identity from OpenIdentity.
func (o *serveOpener) UnlockVault(ctx context.Context, vault string, sid serve.Identity) (serve.Vault, error) {
	id, ok := sid.(*core.Identity)
	if !ok {
		return nil, fmt.Errorf("vault %q: identity of type %T", vault, sid)
	}
	v, err := o.e.Unlock(ctx, vault, id)
	if err != nil {
		return nil, fmt.Errorf("vault %q: %w", vault, err)
	}
	return &servedVault{Vault: v, id: id}, nil
}

// servedVault wipes the identity when its session ends: the vault handle
// may need the identity's keys while unlocked.
type servedVault struct {
	*core.Vault
	id *core.Identity
}

func (v *servedVault) Lock() {
	v.Vault.Lock()
	v.id.Wipe()
}
