#!/usr/bin/env bash
# Runs every fuzz target in the module for a bounded budget each: an execution
# count (default 10000x) or a duration (e.g. 30s) as go test -fuzztime takes.
#
# Each package's fuzz-instrumented test binary is built once (go test -c
# -fuzz) and run once per target exactly as `go test -fuzz` runs it: in the
# package's directory, with the same corpus cache ($GOCACHE/fuzz/<import
# path>) and seed corpus (testdata/fuzz/<target>), writing a failing input to
# testdata/fuzz/<target> as go test does. `go test -fuzz` per target would
# relink the binary for every target and redo the go command's work each
# time: most of this phase's time at 10000x.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
t=${1:-10000x}
cache="$(go env GOCACHE)/fuzz"
bindir=$(mktemp -d "${TMPDIR:-/tmp}/aileron-fuzz-XXXXXX")
trap 'rm -rf "$bindir"' EXIT
pkgs=$(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
n=0
while read -r pkg dir; do
  targets=$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$dir"/*_test.go 2>/dev/null | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/' || true)
  [ -n "$targets" ] || continue
  bin="$bindir/$(echo "$pkg" | tr / _).test"
  # -fuzz=. only turns the instrumentation on; each run below names its target.
  go test -c -fuzz=. -o "$bin" "$pkg"
  for target in $targets; do
    echo "-- $pkg $target ($t)"
    (cd "$dir" && "$bin" -test.paniconexit0 -test.fuzzcachedir="$cache/$pkg" \
      -test.run='^$' -test.fuzz="^${target}\$" -test.fuzztime="$t" -test.timeout=5m) ||
      { echo "FAIL: $pkg $target (to re-run: go test -run='^$' -fuzz='^${target}\$' -fuzztime=$t $pkg)"; exit 1; }
    n=$((n+1))
  done
done <<< "$pkgs"
echo "$n fuzz targets ran for $t each"
