package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CheckGenerated regenerates the Go and gRPC code of proto (a .proto file in
// the test's working directory) with protoc and the pinned generators, and
// fails t when a checked-in file differs: run `make generate` and commit.
func CheckGenerated(t *testing.T, proto string) {
	t.Helper()
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Fatalf("protoc not found: run scripts/install-protoc-gen.sh (make test-deps)")
	}
	genGo := Tool(t, "protoc-gen-go")
	genGRPC := Tool(t, "protoc-gen-go-grpc")
	out := t.TempDir()
	cmd := exec.Command(protoc, "--proto_path=.",
		"--plugin=protoc-gen-go="+genGo, "--plugin=protoc-gen-go-grpc="+genGRPC,
		"--go_out="+out, "--go_opt=paths=source_relative",
		"--go-grpc_out="+out, "--go-grpc_opt=paths=source_relative", proto)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc %s: %v\n%s", proto, err, b)
	}
	base := strings.TrimSuffix(proto, ".proto")
	for _, f := range []string{base + ".pb.go", base + "_grpc.pb.go"} {
		want, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `make generate` and commit the result", f)
		}
	}
}
