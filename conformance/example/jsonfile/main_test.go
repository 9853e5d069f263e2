package main_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ALRubinger/aileron-store/conformance"
)

// TestConformance builds the plugin and runs the whole conformance suite
// against the binary, across the same gRPC boundary the host uses.
func TestConformance(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "aileron-store-jsonfile")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	n := 0
	conformance.Run(t, conformance.PluginHarness(t, bin, func() map[string]string {
		n++ // a fresh, empty store for every check
		return map[string]string{"file": filepath.Join(dir, fmt.Sprint(n), "store.json")}
	}))
}
