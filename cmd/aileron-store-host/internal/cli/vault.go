package cli

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ALRubinger/aileron-store/core"
)

func (a *App) vaultCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "vault",
		Short: "Create vaults and manage their members",
		Long: `A vault is a set of credentials and the members who can read them. Its
key is sealed to each member's identity; admins grant, revoke and rotate.
Every command acts as the identity named by --as.`,
		Args: cobra.ArbitraryArgs,
		RunE: group,
	}
	c.AddCommand(a.vaultCreateCmd(), a.vaultListCmd(), a.vaultMembersCmd(), a.vaultGrantCmd(), a.vaultRevokeCmd(), a.vaultRotateCmd(), a.vaultJoinCmd(), a.vaultStatusCmd(), a.vaultQuarantineCmd(), a.vaultHistoryCmd())
	return c
}

func asFlag(c *cobra.Command, as *string) {
	c.Flags().StringVar(as, "as", "", "act as identity `NAME` (required)")
}

func (a *App) vaultCreateCmd() *cobra.Command {
	var as string
	c := &cobra.Command{
		Use:     "create VAULT --as NAME",
		Short:   "Create a vault with NAME as its only member (admin)",
		Example: `  aileron-store-host vault create team --as alice`,
		Args:    exactArgs(1, "VAULT"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if as == "" {
				return usagef("--as NAME is required: the identity that becomes the vault's admin")
			}
			return a.withEngine(ctx, as, func(e *core.Engine, b *backend, id *core.Identity) error {
				v, err := e.CreateVault(ctx, args[0], id, as)
				if err != nil {
					return &vaultError{vault: args[0], as: as, backend: b.name, err: err}
				}
				v.Lock()
				fmt.Fprintf(a.Stdout, "created vault %q on backend %q with admin %q\n", args[0], b.name, as)
				return nil
			})
		}),
	}
	asFlag(c, &as)
	return c
}

func (a *App) vaultListCmd() *cobra.Command {
	var as string
	c := &cobra.Command{
		Use:     "list --as NAME",
		Short:   "List the vaults NAME is a member of",
		Example: `  aileron-store-host vault list --as alice`,
		Args:    exactArgs(0, ""),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if as == "" {
				return usagef("--as NAME is required: the identity whose vaults to list")
			}
			var names []string
			err := a.withEngine(ctx, as, func(e *core.Engine, b *backend, id *core.Identity) (err error) {
				if names, err = e.ListVaults(ctx, id); err != nil {
					return &vaultError{as: as, backend: b.name, err: err}
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, n := range names {
				fmt.Fprintln(a.Stdout, n)
			}
			return nil
		}),
	}
	asFlag(c, &as)
	return c
}

func (a *App) vaultMembersCmd() *cobra.Command {
	var as string
	c := &cobra.Command{
		Use:     "members VAULT --as NAME",
		Short:   "List a vault's members, roles and fingerprints",
		Example: `  aileron-store-host vault members team --as alice`,
		Args:    exactArgs(1, "VAULT"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var members []core.Member
			err := a.withVault(ctx, args[0], as, func(s *session) error {
				return s.do(func() (err error) { members, err = s.vault.Members(ctx); return err })
			})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MEMBER\tROLE\tFINGERPRINT")
			for _, m := range members {
				fp := ""
				if m.Recipient != nil {
					fp = m.Recipient.Fingerprint()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Name, m.Role, fp)
			}
			return tw.Flush()
		}),
	}
	asFlag(c, &as)
	return c
}

func (a *App) vaultGrantCmd() *cobra.Command {
	var as, member string
	var admin, allowClassical bool
	c := &cobra.Command{
		Use:   "grant VAULT RECIPIENT --name MEMBER [--admin] [--allow-classical] --as NAME",
		Short: "Give a new member access to a vault",
		Long: `Seal the vault's current key to RECIPIENT and add it to the vault as MEMBER.
RECIPIENT is a recipient string (from "identity show NAME --recipient") or
the path of a file holding one. The grantee's passphrase is never needed.
Compare the printed fingerprint with the grantee over another channel.

It prints a grant token: hand it to the new member over a channel you trust,
and they run "vault join VAULT TOKEN --as NAME" once on their host, so that
their host opens this vault (not another of the same name) and refuses an
old state or a fork of it.`,
		Example: `  aileron-store-host vault grant team "$(aileron-store-host identity show bob --recipient)" --name bob --as alice
  aileron-store-host vault grant team ./carol.recipient --name carol --admin --as alice`,
		Args: exactArgs(2, "VAULT and RECIPIENT"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if member == "" {
				return usagef("--name MEMBER is required: the new member's name in the vault")
			}
			if err := checkName("member", member); err != nil {
				return err
			}
			r, err := parseRecipientArg(args[1])
			if err != nil {
				return err
			}
			role := core.RoleMember
			if admin {
				role = core.RoleAdmin
			}
			opts := &core.GrantOptions{AllowClassical: allowClassical}
			return a.withAdminVault(ctx, args[0], as, func(s *session) error {
				if err := s.do(func() error { return s.vault.Grant(ctx, r, member, role, opts) }); err != nil {
					if errors.Is(err, core.ErrClassicalRecipient) {
						return fmt.Errorf("%w\n%s uses the classical X25519 suite: granting it gives up the vault's post-quantum protection; pass --allow-classical to grant it anyway", err, r.Fingerprint())
					}
					return err
				}
				fmt.Fprintf(a.Stdout, "granted %q (%s, fingerprint %s) access to vault %q\n", member, role, r.Fingerprint(), args[0])
				return a.printGrantToken(s, member)
			})
		}),
	}
	asFlag(c, &as)
	c.Flags().StringVar(&member, "name", "", "the new member's `MEMBER` name in the vault (required)")
	c.Flags().BoolVar(&admin, "admin", false, "make the member an admin (may grant, revoke, rotate)")
	c.Flags().BoolVar(&allowClassical, "allow-classical", false, "allow a classical (X25519) recipient into a vault whose members all use the post-quantum hybrid suite")
	return c
}

func (a *App) vaultRevokeCmd() *cobra.Command {
	var as string
	var resume bool
	c := &cobra.Command{
		Use:   "revoke VAULT MEMBER --as NAME",
		Short: "Remove a member, re-encrypt the vault, and list what they could read",
		Long: `Remove MEMBER from the vault: a new vault key is sealed to the remaining
members, every credential is re-encrypted under it, and the old key is
retired. Re-encryption cannot make the revoked member forget what it already
read, so the credentials it could read are printed: rotate them at their
source.

The sweep is resumable. If it is interrupted, run the command again with
--resume (MEMBER may then be omitted); any later admin operation on the vault
also completes it first. A completed interruption's report goes to stderr.`,
		Example: `  aileron-store-host vault revoke team bob --as alice
  aileron-store-host vault revoke team --resume --as alice`,
		Args: func(cmd *cobra.Command, args []string) error {
			if resume && len(args) == 1 {
				return nil
			}
			return exactArgs(2, "VAULT and MEMBER")(cmd, args)
		},
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var rep *core.RevokeReport
			err := a.withAdminVault(ctx, args[0], as, func(s *session) error {
				if len(args) == 1 {
					return nil // --resume alone: withAdminVault completed it
				}
				return s.do(func() (err error) { rep, err = s.vault.Revoke(ctx, args[1]); return err })
			})
			if err != nil {
				return err
			}
			if len(args) == 1 {
				fmt.Fprintf(a.Stdout, "vault %q: no interrupted rotation left\n", args[0])
				return nil
			}
			printRevokeReport(a.Stdout, args[0], rep)
			return nil
		}),
	}
	asFlag(c, &as)
	c.Flags().BoolVar(&resume, "resume", false, "complete an interrupted revoke or rotate")
	return c
}

func (a *App) vaultRotateCmd() *cobra.Command {
	var as string
	var resume bool
	c := &cobra.Command{
		Use:   "rotate VAULT --as NAME",
		Short: "Move a vault to a new key and re-encrypt every credential",
		Long: `Generate a new vault key, seal it to every member, re-encrypt every credential
under it and retire the old one. Resumable like revoke: --resume completes an
interrupted rotation without starting another.`,
		Example: `  aileron-store-host vault rotate team --as alice
  aileron-store-host vault rotate team --resume --as alice`,
		Args: exactArgs(1, "VAULT"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			err := a.withAdminVault(ctx, args[0], as, func(s *session) error {
				if resume {
					return nil // withAdminVault completed it
				}
				return s.do(func() error { _, err := s.vault.Rotate(ctx); return err })
			})
			if err != nil {
				return err
			}
			if resume {
				fmt.Fprintf(a.Stdout, "vault %q: no interrupted rotation left\n", args[0])
				return nil
			}
			fmt.Fprintf(a.Stdout, "rotated vault %q to a new key\n", args[0])
			return nil
		}),
	}
	asFlag(c, &as)
	c.Flags().BoolVar(&resume, "resume", false, "only complete an interrupted revoke or rotate")
	return c
}

// printRevokeReport prints what the sweep of a revoke (rep.Member set) or of
// a resumed rotation (rep.Member empty: core cannot tell whether the
// interrupted rotation revoked a member, nor whom) did to vault: the
// credentials re-encrypted, quarantined and deleted, and those the revoked
// member could read, which must be rotated at their source.
func printRevokeReport(w io.Writer, vault string, rep *core.RevokeReport) {
	who := fmt.Sprintf("%q", rep.Member)
	if rep.Member == "" {
		fmt.Fprintf(w, "completed the interrupted rotation of vault %q; re-encrypted %d credential(s)\n", vault, rep.Reencrypted)
		who = "the revoked member"
	} else {
		fmt.Fprintf(w, "revoked %q from vault %q; re-encrypted %d credential(s)\n", rep.Member, vault, rep.Reencrypted)
	}
	if len(rep.Quarantined) > 0 {
		fmt.Fprintf(w, "quarantined (last written by %s, or by no remaining member); restore or drop each with `vault quarantine`:\n", who)
		for _, q := range rep.Quarantined {
			fmt.Fprintf(w, "  %s (%s)\n", q.Name, q.Reason)
		}
	}
	if len(rep.Discarded) > 0 {
		fmt.Fprintf(w, "deleted %d stored blob(s) no member could read:\n", len(rep.Discarded))
		for _, d := range rep.Discarded {
			fmt.Fprintf(w, "  %s %s: %s\n", d.Kind, d.Key, d.Reason)
		}
	}
	switch {
	case rep.Member == "" && len(rep.Readable) > 0:
		fmt.Fprintf(w, "if it was a revoke, the revoked member could read these credentials; rotate them at their source:\n")
	case rep.Member == "":
		return
	case len(rep.Readable) == 0:
		fmt.Fprintf(w, "%q could read no credentials\n", rep.Member)
		return
	default:
		fmt.Fprintf(w, "%q could read these credentials; rotate them at their source:\n", rep.Member)
	}
	for _, n := range rep.Readable {
		fmt.Fprintf(w, "  %s\n", n)
	}
}
