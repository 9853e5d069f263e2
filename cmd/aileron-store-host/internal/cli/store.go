package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/config"
	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/plugins"
	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/sdk"
)

// backend is an open storage plugin.
type backend struct {
	name   string
	loc    plugins.Location
	client *sdk.Client
}

// backendError names the backend an error came from.
type backendError struct {
	backend string
	err     error
}

func (e *backendError) Error() string { return fmt.Sprintf("backend %q: %v", e.backend, e.err) }
func (e *backendError) Unwrap() error { return e.err }

// openBackend starts the plugin that cfg selects.
func (a *App) openBackend(ctx context.Context, cfg *config.Config) (*backend, error) {
	name := cfg.Storage.Backend
	loc, err := plugins.Finder{PluginDir: cfg.PluginDir, HostPath: a.HostPath}.Find(name)
	if err != nil {
		return nil, &backendError{backend: name, err: err}
	}
	if name == "fs" {
		// The default data directory lives in the home directory and is
		// created owner-only; a configured one is the plugin's business.
		if dir := cfg.Storage.Config[config.FSDirField]; dir != "" && a.home != "" && strings.HasPrefix(filepath.Clean(dir), a.home+string(filepath.Separator)) {
			if err := config.EnsureDir(dir); err != nil {
				return nil, &backendError{backend: name, err: err}
			}
		}
	}
	if cfg.Storage.SHA256 != "" {
		if _, err := plugins.CheckPin(loc.Path, cfg.Storage.SHA256); err != nil {
			return nil, &backendError{backend: name, err: err}
		}
	}
	a.logger().Debug("starting plugin", "backend", name, "path", loc.Path, "source", loc.Source)
	client, err := sdk.Open(ctx, loc.Path, cfg.Storage.Config, &sdk.ClientOptions{
		Name:   plugins.Prefix + name,
		SHA256: cfg.Storage.SHA256,
		Logger: a.logger(),
		Args:   loc.Args,
	})
	if err != nil {
		return nil, &backendError{backend: name, err: err}
	}
	return &backend{name: name, loc: loc, client: client}, nil
}

func (b *backend) Close() error { return b.client.Close() }

// engine opens the configured backend and an engine over it. The returned
// function closes both.
func (a *App) engine(ctx context.Context) (*core.Engine, *backend, func(), error) {
	if err := a.setup(); err != nil {
		return nil, nil, nil, err
	}
	b, err := a.openBackend(ctx, a.cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	stateDir := filepath.Join(a.home, "state")
	if err := config.EnsureDir(stateDir); err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	rep := a.progress()
	a.rep = rep
	e, err := core.New(b.client, &core.Options{
		StateDir:   stateDir,
		SessionTTL: a.sessionTTL,
		Logger:     a.logger().Named("core"),
		Progress: func(p core.Progress) {
			rep.Update(fmt.Sprintf("%s %s", p.Op, p.Vault), p.Done, p.Total)
		},
	})
	if err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	return e, b, func() { rep.Finish(); b.Close() }, nil
}

// session is an unlocked vault opened for one command.
type session struct {
	app     *App
	engine  *core.Engine
	backend *backend
	vault   *core.Vault
	as      string
	name    string
	close   func()
}

// openVault unlocks vault as identity as (opts: at most one, see
// core.Engine.Unlock).
func (a *App) openVault(ctx context.Context, vault, as string, opts ...core.UnlockOptions) (*session, error) {
	if as == "" {
		return nil, usagef("--as NAME is required: the identity to act as")
	}
	if err := a.setup(); err != nil {
		return nil, err
	}
	id, err := a.loadIdentity(as)
	if err != nil {
		return nil, err
	}
	e, b, closeFn, err := a.engine(ctx)
	if err != nil {
		id.Wipe()
		return nil, err
	}
	var v *core.Vault
	err = retryConflict(ctx, func() error {
		var err error
		v, err = e.Unlock(ctx, vault, id, opts...)
		return err
	})
	if err != nil {
		closeFn()
		id.Wipe()
		return nil, &vaultError{vault: vault, as: as, backend: b.name, err: err}
	}
	return &session{app: a, engine: e, backend: b, vault: v, as: as, name: vault, close: func() { v.Lock(); id.Wipe(); closeFn() }}, nil
}

// do runs f with conflict retries and names the vault in its error.
func (s *session) do(ctx context.Context, f func() error) error {
	err := retryConflict(ctx, f)
	s.app.rep.Finish() // end a progress bar before the command prints its result
	if err != nil {
		return &vaultError{vault: s.name, as: s.as, backend: s.backend.name, err: err}
	}
	return nil
}

// resumePending completes an interrupted revoke or rotate before an admin
// operation.
func (s *session) resumePending(ctx context.Context) error {
	pending, err := s.vault.Pending(ctx)
	if err != nil {
		return &vaultError{vault: s.name, as: s.as, backend: s.backend.name, err: err}
	}
	if !pending {
		return nil
	}
	fmt.Fprintf(s.app.Stderr, "vault %q has an interrupted rotation; completing it first\n", s.name)
	return s.do(ctx, func() error { return s.vault.Resume(ctx) })
}

// conflictAttempts is how often an operation that lost a compare-and-swap
// race is tried in all.
const conflictAttempts = 4

// conflictError reports an operation that kept losing races.
type conflictError struct {
	attempts int
	err      error
}

func (e *conflictError) Error() string {
	return fmt.Sprintf("gave up after %d attempts: %v", e.attempts, e.err)
}
func (e *conflictError) Unwrap() error { return e.err }

func retryConflict(ctx context.Context, f func() error) error {
	delay := 50 * time.Millisecond
	var err error
	for i := 1; i <= conflictAttempts; i++ {
		err = f()
		if err == nil || !errors.Is(err, sdk.ErrConflict) {
			return err
		}
		if i == conflictAttempts {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay *= 3
	}
	return &conflictError{attempts: conflictAttempts, err: err}
}

// vaultError carries what the error message needs to name.
type vaultError struct {
	vault, as, backend string
	err                error
}

func (e *vaultError) Error() string { return fmt.Sprintf("vault %q: %v", e.vault, e.err) }
func (e *vaultError) Unwrap() error { return e.err }
