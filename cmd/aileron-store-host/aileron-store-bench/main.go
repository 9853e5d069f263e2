// Command aileron-store-bench measures aileron-store on the configured
// backend against the backend's own client (docs/benchmarks.md). It is
// aileron-store-host's bench, built as a binary of its own because its
// baselines link every backend's SDK (aws-sdk-go-v2, cloud.google.com/go,
// pgx), which the host binary must not.
//
// Like the host, it is also the built-in filesystem plugin when no
// aileron-store-fs binary is installed; and it re-executes itself as the
// bare gRPC server of the floor measurement.
package main

import (
	"context"
	"os"

	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/cli"
	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/plugins"
	"github.com/ALRubinger/aileron-store/internal/bench/floor"
	"github.com/ALRubinger/aileron-store/internal/bench/rawclient"
	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case plugins.BuiltinArg:
			sdk.Serve(fs.New, &sdk.ServeOptions{Name: "aileron-store-fs"})
			return
		case floor.Arg:
			if err := floor.Serve(openWriter); err != nil {
				os.Stderr.WriteString(err.Error() + "\n")
				os.Exit(1)
			}
			return
		}
	}
	code := cli.BenchMain(os.Args[1:], rawclient.Open)
	sdk.CleanupPlugins()
	os.Exit(code)
}

// openWriter opens the raw baseline client in the floor process: the one
// the bare write floor writes through.
func openWriter(ctx context.Context, backend string, config map[string]string) (floor.Writer, error) {
	return rawclient.Open(ctx, backend, config)
}
