#!/usr/bin/env bash
# Installs the MinIO server the S3 plugin's tests also run against, at a
# pinned pseudo-version, built from the Go module proxy into <repo>/.tools/bin
# (or $AILERON_TOOLS_BIN). MinIO is a test tool only: it runs as a separate
# process and the module imports none of its (AGPL) code.
# Idempotent: does nothing when that exact version is already installed.
set -euo pipefail

VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MODULE=github.com/minio/minio
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${AILERON_TOOLS_BIN:-$root/.tools/bin}"
mkdir -p "$bin"

if [ -x "$bin/minio" ] &&
	go version -m "$bin/minio" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$MODULE[[:space:]]+$VERSION([[:space:]]|$)"; then
	echo "minio $VERSION already installed in $bin"
	exit 0
fi

echo "installing minio $VERSION into $bin (a large build; several minutes)"
GOBIN="$bin" go install "$MODULE@$VERSION"
"$bin/minio" --version >/dev/null
echo "minio $VERSION installed: $bin/minio"
