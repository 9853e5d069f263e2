// Command aileron-store-host is the operator's tool of aileron-store: it
// picks the storage backend from the configuration, launches and supervises
// the backend's plugin, and offers the vault operations on the command line
// and as a local API for the trusted agent runtime.
//
// The host binary is also the built-in filesystem plugin: when no
// aileron-store-fs binary is installed, the host starts itself with the
// argument __plugin-fs and serves the fs backend from that child process,
// across the same plugin boundary as every other backend.
package main

import (
	"os"

	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/cli"
	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/plugins"
	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == plugins.BuiltinArg {
		// Started by a host (ourselves) as the fs plugin; sdk.Serve explains
		// and exits when run by hand.
		sdk.Serve(fs.New, &sdk.ServeOptions{Name: "aileron-store-fs"})
		return
	}
	code := cli.Main(os.Args[1:])
	sdk.CleanupPlugins()
	os.Exit(code)
}
