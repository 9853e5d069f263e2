package core_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
)

// examplePluginArg makes this test binary the fs plugin when the example
// starts it, as aileron-store-host does with its __plugin-fs argument: the
// example then runs the real fs plugin across the real plugin boundary
// without a separately installed aileron-store-fs.
const examplePluginArg = "__example-plugin-fs"

func init() {
	if len(os.Args) == 2 && os.Args[1] == examplePluginArg {
		sdk.Serve(fs.New, &sdk.ServeOptions{Name: "aileron-store-fs"})
		os.Exit(0)
	}
}

// fsPlugin returns how to start the fs plugin: here this very binary with
// examplePluginArg; in a program, the path of an installed aileron-store-fs
// (go install github.com/ALRubinger/aileron-store/plugins/fs/cmd/aileron-store-fs@latest)
// and no arguments.
func fsPlugin() (string, []string) {
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	return self, []string{examplePluginArg}
}

// Embedding the engine over a plugin: open the backend the configuration
// names, create a vault, grant the runtime's identity, and read the way a
// runtime does: unwrap the vault key once (Unlock), then one backend read
// and one decryption per Get.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "aileron-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The backend, by configuration: the fs plugin over a directory. Any
	// plugin works the same way (aileron-store-s3 with {"bucket": ...}).
	plugin, args := fsPlugin()
	store, err := sdk.Open(ctx, plugin, map[string]string{"path": filepath.Join(dir, "data")}, &sdk.ClientOptions{Args: args})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// The engine owns every key; the store sees opaque keys and ciphertext.
	// Rollback pins live in StateDir.
	eng, err := core.New(store, &core.Options{StateDir: filepath.Join(dir, "state")})
	if err != nil {
		log.Fatal(err)
	}

	// An admin and the runtime: each a keypair (HPKE ML-KEM-768+X25519 and
	// Ed25519). Persist them with core.MarshalIdentity.
	alice, err := core.NewIdentity(core.SuiteMLKEM768X25519)
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Wipe()
	runtime, err := core.NewIdentity(core.SuiteMLKEM768X25519)
	if err != nil {
		log.Fatal(err)
	}
	defer runtime.Wipe()

	// Create the vault, store a credential, grant the runtime (by its
	// public recipient only: no secret of the runtime is needed).
	v, err := eng.CreateVault(ctx, "team", alice, "alice")
	if err != nil {
		log.Fatal(err)
	}
	if err := v.Put(ctx, "github-token", []byte("ghp_example")); err != nil {
		log.Fatal(err)
	}
	if err := v.Grant(ctx, runtime.Recipient(), "runtime", core.RoleMember, nil); err != nil {
		log.Fatal(err)
	}
	v.Lock()

	// The runtime's read path. Step 1, once: find the vault, verify its
	// head, unwrap the vault key from the runtime's key slot.
	rv, err := eng.Unlock(ctx, "team", runtime)
	if err != nil {
		log.Fatal(err)
	}
	defer rv.Lock()
	// Step 2, per read: one store read, one AEAD open. No KDF, no HPKE.
	token, err := rv.Get(ctx, "github-token")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("github-token: %s\n", token)
	clear(token)

	members, err := rv.Members(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range members {
		fmt.Printf("member %s (%s)\n", m.Name, m.Role)
	}
	// Output:
	// github-token: ghp_example
	// member alice (admin)
	// member runtime (member)
}
