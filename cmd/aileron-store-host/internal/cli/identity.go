package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/config"
	"github.com/ALRubinger/aileron-store/core"
)

// Identity files in <home>/identities: NAME.key holds the identity as
// core.MarshalIdentity encodes it (private half sealed unless
// --no-passphrase; public half readable without the passphrase).
const (
	identitiesDir = "identities"
	keyExt        = ".key"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return usagef("%s name %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", kind, name)
	}
	return nil
}

// errNoIdentity reports an identity that is not in the home directory.
var errNoIdentity = errors.New("no such identity")

func (a *App) identityDir() string { return filepath.Join(a.home, identitiesDir) }

func (a *App) identityCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "identity",
		Short: "Create and inspect member identities",
		Long: `An identity is a member's keypair: an HPKE key that vault keys are sealed to
and an Ed25519 key that signs vault heads. It lives in <home>/identities,
its private half sealed under a passphrase (Argon2id) unless created with
--no-passphrase. Its public half, the recipient string, is what an admin
needs to grant the member access to a vault.`,
		Args: cobra.ArbitraryArgs,
		RunE: group,
	}
	c.AddCommand(a.identityNewCmd(), a.identityShowCmd(), a.identityListCmd())
	return c
}

func (a *App) identityNewCmd() *cobra.Command {
	var noPass bool
	var suite string
	c := &cobra.Command{
		Use:   "new NAME",
		Short: "Create a new identity",
		Long: `Create a new identity NAME in the home directory. Its private key is sealed
under a passphrase taken from --passphrase-file, AILERON_VAULT_PASSPHRASE, or
asked twice on the terminal. With --no-passphrase it is stored unsealed,
protected only by the file's owner-only permissions.`,
		Example: `  aileron-store-host identity new alice
  AILERON_VAULT_PASSPHRASE=... aileron-store-host identity new ci-bot
  aileron-store-host identity new runtime --no-passphrase`,
		Args: exactArgs(1, "NAME"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkName("identity", name); err != nil {
				return err
			}
			var s core.Suite
			switch suite {
			case "mlkem768x25519", "":
				s = core.SuiteMLKEM768X25519
			case "x25519":
				s = core.SuiteX25519
			default:
				return usagef("--suite %q: want mlkem768x25519 or x25519", suite)
			}
			if err := a.setup(); err != nil {
				return err
			}
			dir := a.identityDir()
			if err := config.EnsureDir(dir); err != nil {
				return err
			}
			keyPath := filepath.Join(dir, name+keyExt)
			if _, err := os.Stat(keyPath); err == nil {
				return fmt.Errorf("identity %q already exists (%s)", name, keyPath)
			}
			var pass []byte
			if !noPass {
				p, err := a.passSource().New(fmt.Sprintf("identity %q", name))
				if err != nil {
					return err
				}
				pass = p
				defer clear(pass)
			}
			id, err := core.NewIdentity(s)
			if err != nil {
				return fmt.Errorf("generating identity %q: %w", name, err)
			}
			defer id.Wipe()
			data, err := core.MarshalIdentity(id, pass, nil)
			if err != nil {
				return fmt.Errorf("encoding identity %q: %w", name, err)
			}
			defer clear(data)
			r := id.Recipient()
			if err := writeNew(keyPath, data); err != nil {
				return fmt.Errorf("identity %q: %w", name, err)
			}
			sealed := "sealed under a passphrase"
			if noPass {
				sealed = "not sealed: no passphrase"
			}
			fmt.Fprintf(a.Stdout, "created identity %q (%s)\nrecipient:   %s\nfingerprint: %s\n", name, sealed, r.String(), r.Fingerprint())
			return nil
		}),
	}
	c.Flags().BoolVar(&noPass, "no-passphrase", false, "store the private key unsealed (for unattended runtimes; protect the home directory)")
	c.Flags().StringVar(&suite, "suite", "mlkem768x25519", "key suite: mlkem768x25519 (hybrid post-quantum, default) or x25519 (compatibility)")
	return c
}

func (a *App) identityShowCmd() *cobra.Command {
	var onlyRecipient bool
	c := &cobra.Command{
		Use:   "show NAME",
		Short: "Print an identity's recipient string and fingerprint",
		Long: `Print the public recipient string of identity NAME (what an admin passes to
"vault grant") and its fingerprint (to compare over another channel). No
passphrase is needed.`,
		Example: `  aileron-store-host identity show bob
  aileron-store-host identity show bob --recipient > bob.recipient`,
		Args: exactArgs(1, "NAME"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := checkName("identity", args[0]); err != nil {
				return err
			}
			if err := a.setup(); err != nil {
				return err
			}
			r, sealed, err := a.readPublic(args[0])
			if err != nil {
				return err
			}
			if onlyRecipient {
				fmt.Fprintln(a.Stdout, r.String())
				return nil
			}
			fmt.Fprintf(a.Stdout, "name:        %s\nrecipient:   %s\nfingerprint: %s\nsealed:      %v\n", args[0], r.String(), r.Fingerprint(), sealed)
			return nil
		}),
	}
	c.Flags().BoolVar(&onlyRecipient, "recipient", false, "print only the recipient string")
	return c
}

func (a *App) identityListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the identities in the home directory",
		Example: `  aileron-store-host identity list`,
		Args:    exactArgs(0, ""),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := a.setup(); err != nil {
				return err
			}
			ents, err := os.ReadDir(a.identityDir())
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("listing identities: %w", err)
			}
			var names []string
			for _, e := range ents {
				if n, ok := strings.CutSuffix(e.Name(), keyExt); ok && nameRE.MatchString(n) {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			if len(names) == 0 {
				fmt.Fprintf(a.Stderr, "no identities in %s; create one with: aileron-store-host identity new NAME\n", a.identityDir())
				return nil
			}
			tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFINGERPRINT\tSEALED")
			for _, n := range names {
				r, sealed, err := a.readPublic(n)
				if err != nil {
					fmt.Fprintf(tw, "%s\t(unreadable: %v)\t\n", n, err)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%v\n", n, r.Fingerprint(), sealed)
			}
			return tw.Flush()
		}),
	}
}

// readPublic returns identity name's recipient and whether its key is
// sealed, without a passphrase.
func (a *App) readPublic(name string) (*core.Recipient, bool, error) {
	keyPath := filepath.Join(a.identityDir(), name+keyExt)
	data, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("%w %q in %s (create it with: aileron-store-host identity new %s)", errNoIdentity, name, a.identityDir(), name)
	}
	if err != nil {
		return nil, false, fmt.Errorf("identity %q: %w", name, err)
	}
	defer clear(data)
	sealed, err := core.IdentityIsSealed(data)
	if err != nil {
		return nil, false, &identityError{name: name, err: fmt.Errorf("%s: %w", keyPath, err)}
	}
	r, err := core.IdentityRecipient(data)
	if err != nil {
		return nil, false, &identityError{name: name, err: fmt.Errorf("%s: %w", keyPath, err)}
	}
	return r, sealed, nil
}

// loadIdentity reads and unseals identity name, asking for its passphrase
// if it is sealed. The caller wipes the result.
func (a *App) loadIdentity(name string) (*core.Identity, error) {
	if err := checkName("identity", name); err != nil {
		return nil, err
	}
	keyPath := filepath.Join(a.identityDir(), name+keyExt)
	data, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w %q in %s (create it with: aileron-store-host identity new %s)", errNoIdentity, name, a.identityDir(), name)
	}
	if err != nil {
		return nil, fmt.Errorf("identity %q: %w", name, err)
	}
	defer clear(data)
	var passErr error
	id, err := core.ParseIdentity(data, func() ([]byte, error) {
		p, err := a.passSource().Get(fmt.Sprintf("identity %q", name))
		passErr = err
		return p, err // ParseIdentity clears p
	})
	if passErr != nil {
		return nil, passErr
	}
	if err != nil {
		return nil, &identityError{name: name, err: err}
	}
	return id, nil
}

// identityError names the identity that could not be opened.
type identityError struct {
	name string
	err  error
}

func (e *identityError) Error() string { return fmt.Sprintf("identity %q: %v", e.name, e.err) }
func (e *identityError) Unwrap() error { return e.err }

// parseRecipientArg accepts a recipient string or the path of a file
// holding one.
func parseRecipientArg(arg string) (*core.Recipient, error) {
	r, err := core.ParseRecipient(strings.TrimSpace(arg))
	if err == nil {
		return r, nil
	}
	data, ferr := os.ReadFile(arg)
	if ferr != nil {
		if errors.Is(ferr, fs.ErrNotExist) || errors.Is(ferr, fs.ErrInvalid) || strings.ContainsAny(arg, "\n") {
			return nil, fmt.Errorf("%q is neither a recipient string (%v) nor a readable file", short(arg), err)
		}
		return nil, fmt.Errorf("recipient file %s: %w", arg, ferr)
	}
	if len(data) > 64<<10 {
		return nil, fmt.Errorf("recipient file %s: too large to hold a recipient", arg)
	}
	r, err = core.ParseRecipient(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("recipient file %s: %w", arg, err)
	}
	return r, nil
}

func short(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// writeNew creates path with data, failing if it exists; 0600, fsynced.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// exactArgs is cobra.ExactArgs with a message naming the arguments.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		if n == 0 {
			return usagef("%q takes no arguments, got %q", cmd.CommandPath(), args)
		}
		return usagef("%q needs %s (%d argument(s)), got %d", cmd.CommandPath(), names, n, len(args))
	}
}
