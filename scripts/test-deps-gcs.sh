#!/bin/sh
# Installs the GCS test server, fsouza/fake-gcs-server (BSD-2-Clause), as a
# binary in <repo>/.tools/bin (or $AILERON_TOOLS_BIN). It is not a module
# dependency: go install builds it with its own go.mod. Idempotent: nothing
# is rebuilt when the pinned version is already installed.
set -eu
VERSION=v1.56.1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${AILERON_TOOLS_BIN:-$ROOT/.tools/bin}
STAMP=$BIN/.fake-gcs-server.version
mkdir -p "$BIN"
if [ -x "$BIN/fake-gcs-server" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]; then
	echo "fake-gcs-server $VERSION already installed in $BIN"
	exit 0
fi
echo "installing fake-gcs-server $VERSION into $BIN"
GOBIN=$BIN go install "github.com/fsouza/fake-gcs-server@$VERSION"
echo "$VERSION" > "$STAMP"
