#!/bin/sh
# Regenerates the Go code of hostapi.proto (go generate ./api/hostapi/v1,
# or make generate). Needs protoc (Debian: apt-get install -y
# protobuf-compiler) and the pinned generators, which
# scripts/install-protoc-gen.sh installs into .tools/bin:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
# TestGeneratedCodeIsFresh fails when the checked-in code is stale.
set -eu
cd "$(dirname "$0")"
root=$(cd ../../.. && pwd)
PATH="$root/.tools/bin:$(go env GOPATH)/bin:$PATH"
protoc --proto_path=. \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  hostapi.proto
