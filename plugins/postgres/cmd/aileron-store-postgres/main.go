// Command aileron-store-postgres is the PostgreSQL storage plugin of
// aileron-store. The host starts it; it is not meant to be run by hand.
package main

import (
	"github.com/ALRubinger/aileron-store/plugins/postgres"
	"github.com/ALRubinger/aileron-store/sdk"
)

func main() { sdk.Serve(postgres.New, nil) }
