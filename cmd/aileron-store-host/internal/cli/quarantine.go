package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// vaultQuarantineCmd lists, restores and drops the credentials a revoke
// quarantined (values last written by the revoked member, see
// docs/format.md section 11).
func (a *App) vaultQuarantineCmd() *cobra.Command {
	var as string
	var restore, drop string
	c := &cobra.Command{
		Use:   "quarantine VAULT [--restore NAME | --drop NAME] --as NAME",
		Short: "List, restore or drop the credentials a revoke quarantined",
		Long: `A revoke quarantines each credential whose last value was written by the
revoked member (it cannot be told apart from a value the revoked member forged
with its old key). Without a flag, list them; --restore NAME makes the value
the credential's again, signed by you (you vouch for it); --drop NAME deletes
it. Restoring and dropping need an admin.`,
		Example: `  aileron-store-host vault quarantine team --as alice
  aileron-store-host vault quarantine team --restore webhook-url --as alice`,
		Args: exactArgs(1, "VAULT"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if restore != "" && drop != "" {
				return usagef("--restore and --drop exclude each other")
			}
			return a.withVault(ctx, args[0], as, func(s *session) error {
				switch {
				case restore != "":
					if err := s.do(func() error { return s.vault.RestoreQuarantined(ctx, restore) }); err != nil {
						return err
					}
					fmt.Fprintf(a.Stdout, "restored %q in vault %q\n", restore, args[0])
				case drop != "":
					if err := s.do(func() error { return s.vault.DropQuarantined(ctx, drop) }); err != nil {
						return err
					}
					fmt.Fprintf(a.Stdout, "dropped the quarantined value of %q in vault %q\n", drop, args[0])
				default:
					q, err := s.vault.Quarantined(ctx)
					if err != nil {
						return s.err(err)
					}
					if len(q) == 0 {
						fmt.Fprintf(a.Stdout, "vault %q: nothing quarantined\n", args[0])
					}
					for _, r := range q {
						fmt.Fprintf(a.Stdout, "%s\twritten by %s\t%s\n", r.Name, r.Writer, r.Modified.UTC().Format("2006-01-02T15:04:05Z"))
					}
				}
				return nil
			})
		}),
	}
	asFlag(c, &as)
	c.Flags().StringVar(&restore, "restore", "", "restore the quarantined value of credential `NAME`")
	c.Flags().StringVar(&drop, "drop", "", "delete the quarantined value of credential `NAME`")
	return c
}
