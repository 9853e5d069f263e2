#!/usr/bin/env bash
# Installs what regenerating the checked-in protobuf code needs: protoc from
# Debian's protobuf-compiler, and the pinned Go generators into .tools/bin.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PROTOC_GEN_GO=v1.36.12
PROTOC_GEN_GO_GRPC=v1.6.0
if ! command -v protoc >/dev/null 2>&1; then
  echo "installing protoc (Debian protobuf-compiler)"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq protobuf-compiler >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq protobuf-compiler >/dev/null
  fi
fi
mkdir -p "$root/.tools/bin"
want="protoc-gen-go $PROTOC_GEN_GO"
if [ ! -x "$root/.tools/bin/protoc-gen-go" ] || [ "$("$root/.tools/bin/protoc-gen-go" --version 2>/dev/null)" != "$want" ]; then
  GOBIN="$root/.tools/bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO"
fi
if [ ! -x "$root/.tools/bin/protoc-gen-go-grpc" ] || ! "$root/.tools/bin/protoc-gen-go-grpc" --version 2>/dev/null | grep -q "${PROTOC_GEN_GO_GRPC#v}"; then
  GOBIN="$root/.tools/bin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC"
fi
