package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ALRubinger/aileron-store/core"
)

// The grant token workflow (docs/operator.md, "Pins and grant tokens"):
// "vault grant" prints a token naming the vault and its head; the new
// member's host runs "vault join" with it once, which pins that vault under
// its name and refuses any state of it whose chain lacks that head.

func (a *App) vaultJoinCmd() *cobra.Command {
	var as string
	c := &cobra.Command{
		Use:   "join VAULT TOKEN --as NAME",
		Short: "Open a vault for the first time with the grant token an admin gave you",
		Long: `Open VAULT on this host for the first time with the grant token that
"vault grant" printed for you (aileron-vault1...). The host then opens only
the vault the token names under the name VAULT, and only a state of it whose
history contains the head the token names: a backend that serves an older
state or a fork of the vault is refused. Later commands need no token.

Without a token, the first command that opens a vault on a host trusts the
one vault of that name the backend lists for you (trust on first use) and
pins it from then on; it refuses if the backend lists several.`,
		Example: `  aileron-store-host vault join team aileron-vault1qd5... --as bob`,
		Args:    exactArgs(2, "VAULT and TOKEN"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			tok, err := core.ParseToken(args[1])
			if err != nil {
				return usagef("%v", err)
			}
			s, err := a.openVault(ctx, args[0], as, core.UnlockOptions{Token: tok})
			if err != nil {
				return err
			}
			defer s.close()
			fmt.Fprintf(a.Stdout, "joined vault %q (id %s): this host now opens only this vault under that name, and refuses any state of it without the granted head (seq %d)\n", args[0], tok.VaultID(), tok.Seq())
			return nil
		}),
	}
	asFlag(c, &as)
	return c
}

// printGrantToken prints the token of the head a grant just committed and
// what the new member does with it.
func (a *App) printGrantToken(s *session, member string) error {
	tok, err := s.vault.Token()
	if err != nil {
		return &vaultError{vault: s.name, as: s.as, backend: s.backend.name, err: err}
	}
	fmt.Fprintf(a.Stdout, "grant token: %s\n", tok)
	fmt.Fprintf(a.Stdout, "%q runs once on their host, before any other command on this vault: aileron-store-host vault join %s %s --as <their identity>\n", member, shellQuote(s.name), tok)
	return nil
}

// headTimer is the signed time of a vault's newest verified head (format v2
// heads carry one; the zero time means the head has none).
type headTimer interface {
	HeadTime() time.Time
}

func (a *App) vaultStatusCmd() *cobra.Command {
	var as string
	c := &cobra.Command{
		Use:   "status VAULT --as NAME",
		Short: "Show a vault's id, newest head, its age, and its grant token",
		Long: `Show the vault's id, the newest head this host has verified (its sequence
number and the age of its signed time), whether a revoke or rotation is in
flight, and the grant token of that head.

A head age that keeps growing while members are known to change the vault
means this host is not being shown the vault's latest state: the backend (or
someone with write access to it) may be holding it on an old one.`,
		Example: `  aileron-store-host vault status team --as alice`,
		Args:    exactArgs(1, "VAULT"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openVault(ctx, args[0], as)
			if err != nil {
				return err
			}
			defer s.close()
			var pending bool
			if err := s.do(ctx, func() (err error) { pending, err = s.vault.Pending(ctx); return err }); err != nil {
				return err
			}
			tok, err := s.vault.Token()
			if err != nil {
				return &vaultError{vault: s.name, as: s.as, backend: s.backend.name, err: err}
			}
			fmt.Fprintf(a.Stdout, "vault:    %s (id %s)\n", args[0], s.vault.ID())
			fmt.Fprintf(a.Stdout, "head:     seq %d\n", tok.Seq())
			fmt.Fprintf(a.Stdout, "head age: %s\n", headAge(s.vault, time.Now()))
			if pending {
				fmt.Fprintln(a.Stdout, "pending:  a revoke or rotation is in flight (any admin command completes it)")
			} else {
				fmt.Fprintln(a.Stdout, "pending:  none")
			}
			fmt.Fprintf(a.Stdout, "token:    %s\n", tok)
			return nil
		}),
	}
	asFlag(c, &as)
	return c
}

// headAge describes the age of the newest head this host has verified.
func headAge(v any, now time.Time) string {
	ht, ok := v.(headTimer)
	if !ok {
		return "unknown (this build does not read head times)"
	}
	t := ht.HeadTime()
	if t.IsZero() {
		return "unknown (the head carries no signed time: format v1; the next rotate or revoke upgrades it)"
	}
	age := now.Sub(t).Round(time.Second)
	if age < 0 {
		return fmt.Sprintf("signed %s in the future (%s): check this host's clock", -age, t.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%s (signed %s)", age, t.UTC().Format(time.RFC3339))
}

// shellQuote quotes s for a POSIX shell unless it needs none.
func shellQuote(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/:@", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
