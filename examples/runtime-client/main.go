// Command runtime-client reads one credential through a running
// `aileron-store-host serve`, as an agent runtime does: dial the socket,
// unlock the vault once, read, lock.
//
//	runtime-client -socket ~/.aileron-store/serve.sock -vault team -identity bob -name github-token
//
// The passphrase of a sealed identity comes from AILERON_VAULT_PASSPHRASE
// (empty for an identity made with --no-passphrase). The value goes to
// standard output byte for byte. Exit codes: 0 read, 3 no such credential,
// 1 any other error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ALRubinger/aileron-store/api/hostclient"
)

func main() {
	socket := flag.String("socket", "", "the serve socket `PATH`")
	vault := flag.String("vault", "", "vault `NAME`")
	identity := flag.String("identity", "", "identity `NAME` in the server's home")
	name := flag.String("name", "", "credential `NAME`")
	flag.Parse()
	if *socket == "" || *vault == "" || *identity == "" || *name == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	os.Exit(run(ctx, *socket, *vault, *identity, *name))
}

func run(ctx context.Context, socket, vault, identity, name string) int {
	c, err := hostclient.Dial(ctx, socket, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	pass := []byte(os.Getenv("AILERON_VAULT_PASSPHRASE"))
	v, err := c.Unlock(ctx, vault, identity, pass)
	clear(pass)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer v.Lock(ctx)
	value, err := v.Get(ctx, name)
	switch {
	case errors.Is(err, hostclient.ErrCredentialNotFound):
		fmt.Fprintf(os.Stderr, "no credential %q in vault %q\n", name, vault)
		return 3
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer clear(value)
	if _, err := os.Stdout.Write(value); err != nil {
		return 1
	}
	return 0
}
