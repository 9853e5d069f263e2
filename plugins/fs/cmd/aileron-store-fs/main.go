// Command aileron-store-fs is the filesystem storage plugin of aileron-store.
// The host starts it; it is not meant to be run by hand.
package main

import (
	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
)

func main() { sdk.Serve(fs.New, nil) }
