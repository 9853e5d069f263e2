// Package cli is the command line of aileron-store-host.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/config"
	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/passphrase"
	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/progress"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// App is one run of the command line. Fields left zero take the process's
// own (os.Stdin, os.Stdout, os.Stderr, os.Getenv, os.Executable).
type App struct {
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
	Getenv   func(string) string
	HostPath string

	// global flags
	flagConfig, flagHome, flagLogLevel, flagLogFormat, flagPassFile string

	setupOnce sync.Once
	setupErr  error
	home      string
	cfg       *config.Config
	log       hclog.Logger
	rep       *progress.Reporter // of the engine's sweeps, once opened
	// sessionTTL is how long the engine keeps a vault unlocked (serve's
	// --session-ttl); 0 => the engine's default.
	sessionTTL time.Duration
}

// Main runs the command line with args (without the program name) and
// returns the exit code.
func Main(args []string) int {
	a := &App{}
	return a.Run(context.Background(), args)
}

// Run executes args and returns the exit code: 0 success, 1 failure, 2 usage
// error. Errors are printed to Stderr as one plain line starting "error: ".
func (a *App) Run(ctx context.Context, args []string) int {
	a.defaults()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	var f *failure
	if errors.As(err, &f) {
		fmt.Fprintf(a.Stderr, "error: %s\n", a.describe(f.err))
		return ExitFailure
	}
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintf(a.Stderr, "error: %s\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
	return ExitUsage
}

func (a *App) defaults() {
	if a.Stdin == nil {
		a.Stdin = os.Stdin
	}
	if a.Stdout == nil {
		a.Stdout = os.Stdout
	}
	if a.Stderr == nil {
		a.Stderr = os.Stderr
	}
	if a.Getenv == nil {
		a.Getenv = os.Getenv
	}
	if a.HostPath == "" {
		if p, err := os.Executable(); err == nil {
			if r, err := filepath.EvalSymlinks(p); err == nil {
				p = r
			}
			a.HostPath = p
		}
	}
}

// failure marks an error returned by a command's work (exit 1), as opposed
// to a usage error found by flag or argument parsing (exit 2).
type failure struct{ err error }

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// usageError is a usage error found by a command itself.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run wraps a command's work so that its errors count as failures.
func run(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		if err == nil {
			return nil
		}
		var u *usageError
		if errors.As(err, &u) {
			return err
		}
		return &failure{err: err}
	}
}

// group is the RunE of a command that only holds subcommands.
func group(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	fmt.Fprintln(cmd.ErrOrStderr(), cmd.UsageString()) // the subcommands, on standard error
	return usagef("%q needs a subcommand: %s", cmd.CommandPath(), strings.Join(subNames(cmd), ", "))
}

func subNames(cmd *cobra.Command) []string {
	var out []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			out = append(out, c.Name())
		}
	}
	return out
}

const rootLong = `aileron-store-host stores an agent runtime's credentials on a backend you
choose (the local filesystem by default, or S3, GCS, PostgreSQL, or a
third-party plugin), encrypted so that the backend never sees a secret.

Members are identities (a keypair kept in the home directory, sealed under a
passphrase by default). A vault holds credentials readable by its members;
admins grant, revoke and rotate. Revoking a member re-encrypts the vault
under a new key and lists what that member could read.

With no configuration at all the filesystem backend keeps its data in
<home>/data. Passphrases come from --passphrase-file, AILERON_VAULT_PASSPHRASE,
or a prompt on the terminal, never from an argument.`

const rootExample = `  # Two members, one vault
  aileron-store-host identity new alice
  aileron-store-host identity new bob --no-passphrase
  aileron-store-host vault create team --as alice
  printf '%s' "$GITHUB_TOKEN" | aileron-store-host cred put team github-token --as alice
  aileron-store-host vault grant team "$(aileron-store-host identity show bob --recipient)" --name bob --as alice
  aileron-store-host cred get team github-token --as bob
  aileron-store-host vault revoke team bob --as alice`

func (a *App) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "aileron-store-host",
		Short:         "Encrypted credential vaults on the storage backend you choose",
		Long:          rootLong,
		Example:       rootExample,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE:          group,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&a.flagConfig, "config", "", "config `FILE` (YAML); default $AILERON_STORE_CONFIG, else <home>/config.yaml if present, else the fs backend")
	pf.StringVar(&a.flagHome, "home", "", "local state `DIR` (identities, rollback pins); default $AILERON_STORE_HOME or ~/.aileron-store")
	pf.StringVar(&a.flagLogLevel, "log-level", "warn", "log `LEVEL`: trace, debug, info, warn, error, off")
	pf.StringVar(&a.flagLogFormat, "log-format", "text", "log `FORMAT`: text or json")
	pf.StringVar(&a.flagPassFile, "passphrase-file", "", "read identity passphrases from `FILE` (first line) instead of $AILERON_VAULT_PASSPHRASE or a prompt")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usagef("%v", err) })

	root.AddCommand(
		a.identityCmd(),
		a.vaultCmd(),
		a.credCmd(),
		a.serveCmd(),
		a.migrateCmd(),
		a.pluginCmd(),
		a.versionCmd(),
	)
	a.addExtraCommands(root)
	return root
}

// addExtraCommands is where optional commands register.
func (a *App) addExtraCommands(root *cobra.Command) {
	for _, f := range extraCommands {
		root.AddCommand(f(a))
	}
}

var extraCommands []func(*App) *cobra.Command

// setup resolves the home directory, loads the configuration and builds
// the logger, once.
func (a *App) setup() error {
	a.setupOnce.Do(func() {
		a.setupErr = a.doSetup()
	})
	return a.setupErr
}

func (a *App) doSetup() error {
	level := hclog.LevelFromString(a.flagLogLevel)
	if level == hclog.NoLevel {
		return usagef("--log-level %q: want trace, debug, info, warn, error or off", a.flagLogLevel)
	}
	if a.flagLogFormat != "text" && a.flagLogFormat != "json" {
		return usagef("--log-format %q: want text or json", a.flagLogFormat)
	}
	a.log = hclog.New(&hclog.LoggerOptions{
		Name:       "aileron-store-host",
		Level:      level,
		Output:     a.Stderr,
		JSONFormat: a.flagLogFormat == "json",
	})
	home, err := config.Home(a.flagHome, a.Getenv)
	if err != nil {
		return err
	}
	if err := config.EnsureDir(home); err != nil {
		return fmt.Errorf("home directory: %w", err)
	}
	a.home = home
	cfg, err := config.Load(config.Options{File: a.flagConfig, Home: home, Getenv: a.Getenv})
	if err != nil {
		return err
	}
	a.cfg = cfg
	a.log.Debug("configuration loaded", "file", cfg.File, "backend", cfg.Storage.Backend, "home", home)
	return nil
}

// logger returns the logger, or a null logger before setup.
func (a *App) logger() hclog.Logger {
	if a.log == nil {
		return hclog.NewNullLogger()
	}
	return a.log
}

func (a *App) passSource() passphrase.Source {
	return passphrase.Source{File: a.flagPassFile, Getenv: a.Getenv}
}

// stderrIsTerminal reports whether Stderr is a terminal.
func (a *App) stderrIsTerminal() bool {
	f, ok := a.Stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress returns a reporter for long work: a bar on a terminal, else
// structured lines (at info level, in the --log-format, unless --log-level
// is error or off).
func (a *App) progress() *progress.Reporter {
	if a.stderrIsTerminal() {
		return progress.New(progress.Options{Terminal: true, W: a.Stderr})
	}
	lvl := hclog.LevelFromString(a.flagLogLevel)
	if lvl == hclog.Error || lvl == hclog.Off {
		return nil
	}
	return progress.New(progress.Options{Logger: hclog.New(&hclog.LoggerOptions{
		Name:       "aileron-store-host",
		Level:      hclog.Info,
		Output:     a.Stderr,
		JSONFormat: a.flagLogFormat == "json",
	})})
}
