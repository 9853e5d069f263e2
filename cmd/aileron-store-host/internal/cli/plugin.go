package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/plugins"
	"github.com/ALRubinger/aileron-store/sdk"
)

func (a *App) pluginCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "plugin",
		Short: "List and verify storage plugins",
		Long: `Storage backends are plugins: executables named aileron-store-NAME, looked for
in plugin_dir, then beside the host binary, then on PATH. The fs backend is
also built into the host binary.`,
		Args: cobra.ArbitraryArgs,
		RunE: group,
	}
	c.AddCommand(a.pluginListCmd(), a.pluginVerifyCmd())
	return c
}

func (a *App) finder() plugins.Finder {
	return plugins.Finder{PluginDir: a.cfg.PluginDir, HostPath: a.HostPath}
}

func (a *App) pluginListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the plugins that can be found, where, and their SHA-256",
		Long: `List every plugin that can be found: the built-in names (fs, s3, gcs,
postgres) and any other aileron-store-* executable in the searched
directories. The configured backend is marked with '*'. The SHA-256 is what
storage.sha256 pins.`,
		Example: `  aileron-store-host plugin list`,
		Args:    exactArgs(0, ""),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := a.setup(); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "\tNAME\tSOURCE\tPATH\tSHA256")
			found := map[string]bool{}
			for _, l := range a.finder().List() {
				found[l.Name] = true
				sum, err := plugins.SHA256(l.Path)
				if err != nil {
					sum = "(" + err.Error() + ")"
				}
				path := l.Path
				if len(l.Args) > 0 {
					path += " " + l.Args[0]
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", mark(l.Name == a.cfg.Storage.Backend), l.Name, l.Source, path, sum)
			}
			for _, n := range plugins.BuiltIn {
				if !found[n] {
					fmt.Fprintf(tw, "%s\t%s\tnot found\t(install aileron-store-%s)\t\n", mark(n == a.cfg.Storage.Backend), n, n)
				}
			}
			return tw.Flush()
		}),
	}
}

func mark(b bool) string {
	if b {
		return "*"
	}
	return ""
}

func (a *App) pluginVerifyCmd() *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "verify [NAME...]",
		Short: "Check plugin pins and handshake with each plugin",
		Long: `For each plugin (all that can be found, or the NAMEs given): check its
SHA-256 against storage.sha256 when it is the configured backend, start it,
complete the handshake (protocol version, mutual TLS), and send it a
configuration: the configured backend gets the real one and must accept it
(this also checks that the backend is reachable); any other plugin gets an
empty one, and its refusal naming a missing field proves it answered.
Fails if any plugin fails.`,
		Example: `  aileron-store-host plugin verify
  aileron-store-host --config s3.yaml plugin verify s3`,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := a.setup(); err != nil {
				return err
			}
			var locs []plugins.Location
			if len(args) == 0 {
				locs = a.finder().List()
			} else {
				for _, n := range args {
					l, err := a.finder().Find(n)
					if err != nil {
						return &backendError{backend: n, err: err}
					}
					locs = append(locs, l)
				}
			}
			failed := 0
			for _, l := range locs {
				res, err := a.verifyPlugin(ctx, l, timeout)
				if err != nil {
					failed++
					fmt.Fprintf(a.Stdout, "FAIL  %-10s %s: %v\n", l.Name, l.Path, err)
					continue
				}
				fmt.Fprintf(a.Stdout, "ok    %-10s %s: %s\n", l.Name, l.Path, res)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d plugin(s) failed verification", failed, len(locs))
			}
			return nil
		}),
	}
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "time allowed per plugin")
	return c
}

func (a *App) verifyPlugin(ctx context.Context, l plugins.Location, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	configured := l.Name == a.cfg.Storage.Backend
	pin := ""
	if configured {
		pin = a.cfg.Storage.SHA256
	}
	sum, err := plugins.CheckPin(l.Path, pin)
	if err != nil {
		return "", err
	}
	pinNote := "not pinned"
	if pin != "" {
		pinNote = "pin matches"
	}
	cfg := map[string]string{}
	log := a.logger()
	if configured {
		cfg = a.cfg.Storage.Config
	} else if !log.IsDebug() {
		// An unconfigured plugin is expected to refuse the empty config; its
		// "configuration refused" log line would only mislead.
		log = hclog.NewNullLogger()
	}
	c, err := sdk.Open(ctx, l.Path, cfg, &sdk.ClientOptions{
		Name:   plugins.Prefix + l.Name,
		SHA256: pin,
		Logger: log,
		Args:   l.Args,
	})
	if err != nil {
		if !configured && errors.Is(err, sdk.ErrInvalidArgument) {
			return fmt.Sprintf("sha256 %s (%s); handshake ok; not configured here (%v)", sum[:16], pinNote, err), nil
		}
		return "", err
	}
	defer c.Close()
	if err := c.Ping(ctx); err != nil {
		return "", err
	}
	caps := c.Capabilities()
	return fmt.Sprintf("sha256 %s (%s); handshake ok; configured backend accepted its config; max value %d bytes, native list-with-values %v", sum[:16], pinNote, caps.MaxValueSize, caps.NativeListValues) + formatReport(caps.Report, "      "), nil
}

// formatReport renders a plugin's Capabilities().Report (what it found about
// its backend) as indented "name: finding" lines after a heading, sorted by
// name, with control characters removed; "" for an empty report.
func formatReport(r map[string]string, indent string) string {
	if len(r) == 0 {
		return ""
	}
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	clean := func(s string) string {
		return strings.Map(func(c rune) rune {
			if unicode.IsControl(c) {
				return ' '
			}
			return c
		}, s)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%swhat the plugin found about its backend:", indent)
	for _, n := range names {
		fmt.Fprintf(&b, "\n%s  %s: %s", indent, clean(n), clean(r[n]))
	}
	return b.String()
}
