package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/serve"
)

func init() { extraCommands = append(extraCommands, (*App).auditCmd) }

// stateDir is the host's local state directory (rollback pins, audit key).
func (a *App) stateDir() string { return filepath.Join(a.home, "state") }

// openAuditLog opens the access log of serve --audit-log under the host's
// audit key (created on first use).
func (a *App) openAuditLog(path string) (*serve.AuditLog, error) {
	key, err := serve.AuditKey(a.stateDir())
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return serve.OpenAuditLog(path, key)
}

func (a *App) auditCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Search the access log of serve mode",
		Long: `serve --audit-log FILE appends one JSON line per call of the local API. It
names credentials by an HMAC-SHA256 under this host's audit key
(<home>/state/audit.key) instead of in clear; "audit hash NAME" prints the
value to search for.`,
		Args: cobra.ArbitraryArgs,
		RunE: group,
	}
	c.AddCommand(a.auditHashCmd())
	return c
}

func (a *App) auditHashCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "hash NAME",
		Short: "Print the form in which the access log names credential NAME",
		Long: `Print "hmac-sha256:<hex>", the HMAC-SHA256 of credential NAME under this
host's audit key, as the access log of serve --audit-log writes it. Only a
host holding the same <home>/state/audit.key gets the same value.`,
		Example: `  grep "$(aileron-store-host audit hash github-token)" /var/log/aileron/access.log`,
		Args:    exactArgs(1, "NAME"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := a.setup(); err != nil {
				return err
			}
			key, err := serve.ReadAuditKey(a.stateDir())
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no audit key in %s: this home has never run serve --audit-log, so no access log names anything with it", a.stateDir())
			}
			if err != nil {
				return err
			}
			defer clear(key)
			fmt.Fprintln(a.Stdout, serve.HashName(key, args[0]))
			return nil
		}),
	}
}
