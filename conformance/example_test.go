package conformance_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"

	"github.com/ALRubinger/aileron-store/conformance"
	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
)

// The suite against a store, here the fs backend in process: the Harness
// makes a fresh, empty store per check. In a plugin's own tests the same
// Harness goes to conformance.Run(t, h), which runs each check as a subtest
// (go test -run 'TestMyStore/cas/'); conformance.NewPluginHarness builds a
// Harness that runs the plugin binary across the process boundary, as
// `aileron-store-host conformance` does. RunChecks, shown here, needs no
// testing.T: it returns one Result per check.
func ExampleRunChecks() {
	root, err := os.MkdirTemp("", "aileron-conformance-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	n := 0
	h := conformance.Harness{
		New: func(ctx context.Context) (sdk.Store, error) {
			n++
			return fs.Open(filepath.Join(root, fmt.Sprint(n)))
		},
		// With Reopen (a new store over the same data) the durability
		// checks run too; with Kill and Reopen the crash check.
		Reopen: func(ctx context.Context, s sdk.Store) (sdk.Store, error) {
			dir := s.(*fs.Store).Root()
			s.Close()
			return fs.Open(dir)
		},
	}
	results := conformance.RunChecks(context.Background(), h, regexp.MustCompile(`^(cas/(create-if-absent|stale-version|identical-rewrite)|roundtrip/max-value|durability/)`))
	for _, r := range results {
		fmt.Println(r.Name, r.Status)
	}
	fmt.Println("failed:", conformance.Failed(results))
	// Output:
	// roundtrip/max-value pass
	// cas/create-if-absent pass
	// cas/stale-version pass
	// cas/identical-rewrite pass
	// durability/reopen-data pass
	// durability/reopen-versions pass
	// failed: false
}
