package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ALRubinger/aileron-store/sdk"
)

// maxCredSize bounds what cred put reads; the core enforces the exact limit.
const maxCredSize = sdk.MaxValueSize

func (a *App) credCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "cred",
		Short: "Store, read, list and remove credentials in a vault",
		Long: `Credentials are named byte strings (tokens, keys, JSON blobs) encrypted under
the vault's key. Names are never visible to the backend.`,
		Args: cobra.ArbitraryArgs,
		RunE: group,
	}
	c.AddCommand(a.credPutCmd(), a.credGetCmd(), a.credListCmd(), a.credRmCmd())
	return c
}

func (a *App) credPutCmd() *cobra.Command {
	var as, file string
	c := &cobra.Command{
		Use:   "put VAULT NAME --as ID [--file F]",
		Short: "Store a credential (value from stdin or --file)",
		Long: `Store credential NAME in VAULT, replacing any earlier value. The value is
read byte for byte from --file, else from standard input (a trailing newline
is kept: use printf, not echo, for tokens). On a terminal the value is asked
for without echo.`,
		Example: `  printf '%s' "$GITHUB_TOKEN" | aileron-store-host cred put team github-token --as alice
  aileron-store-host cred put team signing-key --file ./key.pem --as alice`,
		Args: exactArgs(2, "VAULT and NAME"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var n int
			// Unlock first: on a terminal the passphrase is asked before the
			// value, and a non-member is refused before typing a secret.
			err := a.withVault(ctx, args[0], as, func(s *session) error {
				value, err := a.readValue(file, args[1])
				if err != nil {
					return err
				}
				defer clear(value)
				n = len(value)
				return s.do(func() error { return s.vault.Put(ctx, args[1], value) })
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "stored %q in vault %q (%d bytes)\n", args[1], args[0], n)
			return nil
		}),
	}
	asFlag(c, &as)
	c.Flags().StringVar(&file, "file", "", "read the value from `F` instead of standard input")
	return c
}

func (a *App) readValue(file, name string) ([]byte, error) {
	var r io.Reader = a.Stdin
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("value of %q: %w", name, err)
		}
		defer f.Close()
		r = f
	} else if f, ok := a.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(a.Stderr, "Value for %q (input hidden): ", name)
		v, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.Stderr)
		if err != nil {
			return nil, fmt.Errorf("reading value of %q: %w", name, err)
		}
		if len(v) > maxCredSize {
			clear(v)
			return nil, fmt.Errorf("value of %q is larger than %d bytes", name, maxCredSize)
		}
		return v, nil
	}
	v, err := io.ReadAll(io.LimitReader(r, maxCredSize+1))
	if err != nil {
		clear(v)
		return nil, fmt.Errorf("reading value of %q: %w", name, err)
	}
	if len(v) > maxCredSize {
		clear(v)
		return nil, fmt.Errorf("value of %q is larger than %d bytes", name, maxCredSize)
	}
	return v, nil
}

func (a *App) credGetCmd() *cobra.Command {
	var as string
	c := &cobra.Command{
		Use:   "get VAULT NAME --as ID",
		Short: "Write a credential's exact bytes to standard output",
		Long: `Write credential NAME of VAULT to standard output: its exact bytes and
nothing else (no trailing newline is added), so it can be piped or captured.`,
		Example: `  aileron-store-host cred get team github-token --as bob
  TOKEN="$(aileron-store-host cred get team github-token --as bob)"`,
		Args: exactArgs(2, "VAULT and NAME"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withVault(ctx, args[0], as, func(s *session) error {
				var v []byte
				if err := s.do(func() (err error) { v, err = s.vault.Get(ctx, args[1]); return err }); err != nil {
					return err
				}
				defer clear(v)
				if _, err := a.Stdout.Write(v); err != nil {
					return fmt.Errorf("writing %q to standard output: %w", args[1], err)
				}
				return nil
			})
		}),
	}
	asFlag(c, &as)
	return c
}

func (a *App) credListCmd() *cobra.Command {
	var as string
	c := &cobra.Command{
		Use:     "list VAULT --as ID",
		Short:   "List the names of a vault's credentials",
		Example: `  aileron-store-host cred list team --as alice`,
		Args:    exactArgs(1, "VAULT"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var names []string
			err := a.withVault(ctx, args[0], as, func(s *session) error {
				return s.do(func() (err error) { names, err = s.vault.List(ctx); return err })
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

func (a *App) credRmCmd() *cobra.Command {
	var as string
	c := &cobra.Command{
		Use:     "rm VAULT NAME --as ID",
		Short:   "Remove a credential",
		Example: `  aileron-store-host cred rm team old-token --as alice`,
		Args:    exactArgs(2, "VAULT and NAME"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			err := a.withVault(ctx, args[0], as, func(s *session) error {
				return s.do(func() error { return s.vault.Delete(ctx, args[1]) })
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "removed %q from vault %q\n", args[1], args[0])
			return nil
		}),
	}
	asFlag(c, &as)
	return c
}
