package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"reflect"

	"github.com/spf13/cobra"

	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/config"
	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/migrate"
)

func (a *App) migrateCmd() *cobra.Command {
	var to string
	var resume bool
	c := &cobra.Command{
		Use:   "migrate --to FILE [--resume]",
		Short: "Copy every blob from the configured backend to another one",
		Long: `Copy every blob from the configured backend (the source) to the backend that
the config file FILE describes (the target), without decrypting anything:
blobs are opaque ciphertext and move as they are. Then both sides are listed
and compared: the same keys, the same count, the same SHA-256 of every
value, or the command fails naming the first difference.

Stop every writer first (serve, scripts, other hosts): a change during the
copy makes the verification fail. The target must be empty unless --resume
is given. An interrupted migration leaves a checkpoint in <home>/migrate and
continues where it stopped with --resume; keys the target already holds
with identical bytes are skipped, different bytes are an error.

The source stays as it was. When the command succeeds, point --config (or
AILERON_STORE_CONFIG) at FILE to use the target.`,
		Example: `  aileron-store-host migrate --to postgres.yaml
  aileron-store-host --config postgres.yaml migrate --to s3.yaml
  aileron-store-host migrate --to s3.yaml --resume`,
		Args: exactArgs(0, ""),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if to == "" {
				return usagef("--to FILE is required: the config file of the target backend")
			}
			if err := a.setup(); err != nil {
				return err
			}
			none := func(string) string { return "" }
			target, err := config.Load(config.Options{File: to, Getenv: none, Environ: func() []string { return nil }})
			if err != nil {
				return err
			}
			if target.Storage.Backend == "fs" && target.Storage.Config[config.FSDirField] == "" {
				return fmt.Errorf("%s: field %q: the fs target needs its data directory set explicitly", to, "storage.config."+config.FSDirField)
			}
			if target.Storage.Backend == a.cfg.Storage.Backend && reflect.DeepEqual(target.Storage.Config, a.cfg.Storage.Config) {
				return fmt.Errorf("%s describes the same backend as the source; nothing to migrate", to)
			}
			abs, err := filepath.Abs(to)
			if err != nil {
				return err
			}
			sum := sha256.Sum256([]byte(abs))
			cp := filepath.Join(a.home, "migrate", hex.EncodeToString(sum[:8])+".json")

			src, err := a.openBackend(ctx, a.cfg)
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := a.openBackend(ctx, target)
			if err != nil {
				return err
			}
			defer dst.Close()

			rep := a.progress()
			res, err := migrate.Run(ctx, src.client, dst.client, migrate.Options{
				Checkpoint: cp,
				Target:     abs,
				Resume:     resume,
				Progress: func(op string, done, total int) {
					rep.Update(fmt.Sprintf("migrate %s", op), done, total)
				},
			})
			rep.Finish()
			if err != nil {
				return fmt.Errorf("migrating from backend %q to backend %q: %w", src.name, dst.name, err)
			}
			how := ""
			if res.Resumed {
				how = " (resumed)"
			}
			fmt.Fprintf(a.Stdout, "migrated %d blobs (%d bytes) from backend %q to backend %q%s: %d copied, %d already present\n", res.Keys, res.Bytes, src.name, dst.name, how, res.Copied, res.Skipped)
			fmt.Fprintf(a.Stdout, "verified: same keys and SHA-256 of every blob on both sides (digest %s)\n", res.Digest)
			fmt.Fprintf(a.Stdout, "to use the new backend: aileron-store-host --config %s ...\n", to)
			return nil
		}),
	}
	c.Flags().StringVar(&to, "to", "", "config `FILE` of the target backend (required)")
	c.Flags().BoolVar(&resume, "resume", false, "continue an interrupted migration (or copy into a non-empty target, skipping identical keys)")
	return c
}
