package hostclient_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/ALRubinger/aileron-store/api/hostclient"
)

// A runtime reads a credential through `aileron-store-host serve`: dial
// once, unlock the vault once, then read as often as needed until Lock.
// (Compiled, not run: it needs a running server; TestClientAgainstServe and
// examples/runtime-client run the same calls against one.)
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	home, _ := os.UserHomeDir()
	c, err := hostclient.Dial(ctx, filepath.Join(home, ".aileron-store", "serve.sock"), nil)
	if err != nil {
		log.Fatal(err) // errors.Is(err, hostclient.ErrUnavailable): no server
	}
	defer c.Close()

	pass := []byte(os.Getenv("AILERON_VAULT_PASSPHRASE")) // nil for --no-passphrase identities
	v, err := c.Unlock(ctx, "team", "bob", pass)
	clear(pass)
	if err != nil {
		log.Fatal(err)
	}
	defer v.Lock(ctx)

	token, err := v.Get(ctx, "github-token")
	switch {
	case errors.Is(err, hostclient.ErrCredentialNotFound):
		fmt.Println("no github-token in vault team")
	case errors.Is(err, hostclient.ErrLocked):
		fmt.Println("the session ended: unlock again")
	case err != nil:
		log.Fatal(err)
	default:
		defer clear(token)
		fmt.Printf("read %d bytes\n", len(token))
	}
}
