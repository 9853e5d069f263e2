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

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", pkg)
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
	if found := sdkDeps(deps(t, "./cmd/aileron-store-host")); len(found) > 0 {
		t.Errorf("the host binary depends on %d packages of backend SDKs, e.g. %s", len(found), strings.Join(found[:min(5, len(found))], ", "))
	}
	bench := strings.Join(sdkDeps(deps(t, "./cmd/aileron-store-host/aileron-store-bench")), " ")
	for _, want := range []string{"github.com/aws/aws-sdk-go-v2/service/s3", "cloud.google.com/go/storage", "github.com/jackc/pgx/v5"} {
		if !strings.Contains(bench, want) {
			t.Errorf("the bench binary's dependencies lack %s: the check would not see it either", want)
		}
	}
}
