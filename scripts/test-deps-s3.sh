#!/usr/bin/env bash
# Installs the local S3 server the S3 plugin's tests run against:
# versitygw v1.8.0 (Apache-2.0, https://github.com/versity/versitygw), built
# from the Go module proxy into <repo>/.tools/bin (or $AILERON_TOOLS_BIN).
# Idempotent: does nothing when that exact version is already installed.
set -euo pipefail

VERSION=v1.8.0
MODULE=github.com/versity/versitygw
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${AILERON_TOOLS_BIN:-$root/.tools/bin}"
mkdir -p "$bin"

if [ -x "$bin/versitygw" ] &&
	go version -m "$bin/versitygw" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$MODULE[[:space:]]+$VERSION([[:space:]]|$)"; then
	echo "versitygw $VERSION already installed in $bin"
	exit 0
fi

echo "installing versitygw $VERSION into $bin (a large build; a few minutes)"
GOBIN="$bin" go install "$MODULE/cmd/versitygw@$VERSION"
"$bin/versitygw" --help >/dev/null
echo "versitygw $VERSION installed: $bin/versitygw"
