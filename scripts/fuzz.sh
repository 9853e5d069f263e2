#!/usr/bin/env bash
# Runs every fuzz target in the module for a bounded budget each: an execution
# count (default 10000x) or a duration (e.g. 30s) as go test -fuzztime takes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
t=${1:-10000x}
n=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$dir"/*_test.go 2>/dev/null | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/' || true)
  for target in $targets; do
    echo "-- $pkg $target ($t)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$t" -timeout 5m "$pkg"
    n=$((n+1))
  done
done
echo "$n fuzz targets ran for $t each"
