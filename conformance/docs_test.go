package conformance_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/conformance"
	"github.com/ALRubinger/aileron-store/internal/testenv"
)

func readDoc(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), rel))
	if err != nil {
		t.Fatalf("reading %s: %v", rel, err)
	}
	return string(b)
}

// docs/conformance.md explains every check, by name, and gives the count.
func TestConformanceDocCoversEveryCheck(t *testing.T) {
	doc := readDoc(t, "docs/conformance.md")
	checks := conformance.Checks()
	for _, c := range checks {
		if !strings.Contains(doc, "| `"+c.Name+"` |") {
			t.Errorf("docs/conformance.md has no table row for check %s", c.Name)
		}
		if c.Doc == "" {
			t.Errorf("check %s has no description", c.Name)
		}
	}
	if want := fmt.Sprintf("%d checks", len(checks)); !strings.Contains(doc, want) {
		t.Errorf("docs/conformance.md does not say %q", want)
	}
	for _, cmd := range []string{"aileron-store-host conformance --config minio.yaml", "backend: s3", "endpoint: http://127.0.0.1:9000", "path_style"} {
		if !strings.Contains(doc, cmd) {
			t.Errorf("docs/conformance.md lacks %q", cmd)
		}
	}
}

// docs/plugin-authoring.md shows the example plugin and its test verbatim,
// so the guide is the code the tests build and check.
func TestPluginGuideShowsTheExample(t *testing.T) {
	doc := readDoc(t, "docs/plugin-authoring.md")
	for _, f := range []string{"conformance/example/jsonfile/main.go", "conformance/example/jsonfile/main_test.go"} {
		if !strings.Contains(doc, "```go\n"+readDoc(t, f)+"```") {
			t.Errorf("docs/plugin-authoring.md does not show %s verbatim", f)
		}
	}
	if want := fmt.Sprintf("%d checks", len(conformance.Checks())); !strings.Contains(doc, want) {
		t.Errorf("docs/plugin-authoring.md does not say %q", want)
	}
}
