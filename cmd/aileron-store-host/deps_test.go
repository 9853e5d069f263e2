package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
)

// backendSDKs are the module paths of the backends' own clients: they belong
// in the plugins (and the bench binary's baselines), never in the host.
var backendSDKs = []string{"github.com/aws/aws-sdk-go-v2", "github.com/aws/smithy-go", "cloud.google.com/go", "github.com/jackc/pgx"}

// pgxException is the one package of the host still allowed to import pgx:
// the conformance command drops the per-check tables of a PostgreSQL run
// with it. Removing it needs the cleanup done on the plugin's side (or key
// prefixes on PostgreSQL); until then the test pins pgx to that importer so
// that no other path brings it in.
const pgxException = "github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/cli"

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	return goList(t, "{{.ImportPath}}", pkg)
}

func goList(t *testing.T, format, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", format, pkg)
	cmd.Dir = testenv.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func sdkDeps(pkgs []string) []string {
	var found []string
	for _, p := range pkgs {
		for _, sdk := range backendSDKs {
			if p == sdk || strings.HasPrefix(p, sdk+"/") {
				found = append(found, p)
			}
		}
	}
	return found
}

// The host binary links no backend's SDK: backends live in their plugin
// processes. The bench binary, which does link them for its baselines, shows
// that the check sees them where they are.
func TestHostLinksNoBackendSDK(t *testing.T) {
	var found []string
	for _, p := range sdkDeps(deps(t, "./cmd/aileron-store-host")) {
		if !strings.HasPrefix(p, "github.com/jackc/") {
			found = append(found, p)
		}
	}
	if len(found) > 0 {
		t.Errorf("the host binary depends on %d packages of backend SDKs, e.g. %s", len(found), strings.Join(found[:min(5, len(found))], ", "))
	}
	// pgx: only through the exception, directly.
	for _, line := range goList(t, `{{.ImportPath}} {{join .Imports " "}}`, "./cmd/aileron-store-host") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "github.com/jackc/") || f[0] == pgxException {
			continue
		}
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, "github.com/jackc/pgx") {
				t.Errorf("%s imports %s: the host must not link pgx", f[0], imp)
			}
		}
	}
	bench := strings.Join(sdkDeps(deps(t, "./cmd/aileron-store-host/aileron-store-bench")), " ")
	for _, want := range []string{"github.com/aws/aws-sdk-go-v2/service/s3", "cloud.google.com/go/storage", "github.com/jackc/pgx/v5"} {
		if !strings.Contains(bench, want) {
			t.Errorf("the bench binary's dependencies lack %s: the check would not see it either", want)
		}
	}
}
