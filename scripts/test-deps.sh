#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine of this kind:
# protoc and the pinned generators, and the servers each backend's tests start
# on loopback (PostgreSQL from Debian's packages; versitygw, MinIO and
# fake-gcs-server through the Go module proxy into .tools/bin), one
# scripts/test-deps-<server>.sh each (test-deps-minio.sh for MinIO, pinned to
# the pseudo-version docs/conformance.md names). Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install-protoc-gen.sh
for f in scripts/test-deps-*.sh; do
  [ -e "$f" ] || continue
  echo "== $f"
  bash "$f"
done
