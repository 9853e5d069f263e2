package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

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

// withEngine loads identity as, opens the configured backend and an engine
// over it, and calls f with them. When f returns, the backend is closed and
// the identity wiped. The caller has checked that as is set.
func (a *App) withEngine(ctx context.Context, as string, f func(e *core.Engine, b *backend, id *core.Identity) error) error {
	if err := a.setup(); err != nil {
		return err
	}
	id, err := a.loadIdentity(as)
	if err != nil {
		return err
	}
	defer id.Wipe()
	e, b, closeFn, err := a.engine(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	return f(e, b, id)
}

// session is a vault unlocked for one command.
type session struct {
	app     *App
	vault   *core.Vault
	name    string // as the command line gave it
	as      string
	backend string
}

// withVault is the one open/do/close path of the commands that act on a
// vault: it unlocks vault as identity as, calls f with the session and locks
// the vault again. Compare-and-swap races are retried by the engine, not
// here.
func (a *App) withVault(ctx context.Context, vault, as string, f func(s *session) error) error {
	return a.withVaultOptions(ctx, vault, as, core.UnlockOptions{}, f)
}

// withVaultOptions is withVault with the engine's unlock options (a grant
// token on a member's first unlock).
func (a *App) withVaultOptions(ctx context.Context, vault, as string, opts core.UnlockOptions, f func(s *session) error) error {
	if as == "" {
		return usagef("--as NAME is required: the identity to act as")
	}
	return a.withEngine(ctx, as, func(e *core.Engine, b *backend, id *core.Identity) error {
		v, err := e.Unlock(ctx, vault, id, opts)
		if err != nil {
			return &vaultError{vault: vault, as: as, backend: b.name, err: err}
		}
		defer v.Lock()
		return f(&session{app: a, vault: v, name: vault, as: as, backend: b.name})
	})
}

// withAdminVault is withVault for an admin operation (grant, revoke,
// rotate): it first completes an interrupted revoke or rotate, and prints
// that sweep's report to stderr (the credentials a revoked member could
// read must not go unreported because another command finished the revoke).
func (a *App) withAdminVault(ctx context.Context, vault, as string, f func(s *session) error) error {
	return a.withVault(ctx, vault, as, func(s *session) error {
		pending, err := s.vault.Pending(ctx)
		if err != nil {
			return s.err(err)
		}
		if pending {
			fmt.Fprintf(a.Stderr, "vault %q has an interrupted rotation; completing it first\n", s.name)
			var rep *core.RevokeReport
			if err := s.do(func() (err error) { rep, err = s.vault.Resume(ctx); return err }); err != nil {
				return err
			}
			printRevokeReport(a.Stderr, s.name, rep)
		}
		return f(s)
	})
}

// do runs one vault operation, ends any progress bar it drew (before the
// command prints its result) and names the vault in its error.
func (s *session) do(f func() error) error {
	err := f()
	s.app.rep.Finish()
	if err != nil {
		return s.err(err)
	}
	return nil
}

func (s *session) err(err error) error {
	return &vaultError{vault: s.name, as: s.as, backend: s.backend, err: err}
}

// vaultError carries what the error message needs to name.
type vaultError struct {
	vault, as, backend string
	err                error
}

func (e *vaultError) Error() string { return fmt.Sprintf("vault %q: %v", e.vault, e.err) }
func (e *vaultError) Unwrap() error { return e.err }
