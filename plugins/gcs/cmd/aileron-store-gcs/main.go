// Command aileron-store-gcs is the Google Cloud Storage plugin of
// aileron-store. The host starts it; it is not meant to be run by hand.
package main

import (
	"github.com/ALRubinger/aileron-store/plugins/gcs"
	"github.com/ALRubinger/aileron-store/sdk"
)

func main() { sdk.Serve(gcs.New, nil) }
