#!/usr/bin/env bash
# The README's first command: builds aileron-store-host and drives the real
# binary through the main job on the default filesystem backend, in a
# throwaway home directory, with nothing to set up beyond Go:
#
#   two identities (alice sealed under a passphrase, bob without one), a vault,
#   credentials stored and read back, bob granted (joining with the grant
#   token) and reading, bob revoked and denied, alice still reading, and the
#   vault's verified history.
#
# Every step prints its command and output. The script exits non-zero as soon
# as any step misbehaves, including a step that should fail but succeeds
# (for example bob still reading after the revoke).
#
# Usage: scripts/demo.sh            (KEEP=1 keeps the temporary home)
set -euo pipefail

cd "$(dirname "$0")/.."
BIN="$PWD/bin/aileron-store-host"

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
fail() { printf 'DEMO FAILED: %s\n' "$*" >&2; exit 1; }

bold "== building bin/aileron-store-host"
go build -o bin/ ./cmd/aileron-store-host
"$BIN" version

DEMO_HOME="$(mktemp -d "${TMPDIR:-/tmp}/aileron-demo.XXXXXX")"
cleanup() {
	if [ "${KEEP:-}" = 1 ]; then echo "home kept in $DEMO_HOME"; else rm -rf "$DEMO_HOME"; fi
}
trap cleanup EXIT
export AILERON_STORE_HOME="$DEMO_HOME"
unset AILERON_STORE_CONFIG AILERON_STORE_BACKEND AILERON_STORE_PLUGIN_DIR AILERON_STORE_SHA256 AILERON_VAULT_PASSPHRASE
echo "home: $DEMO_HOME (the fs backend keeps its data in \$home/data)"

# step DESCRIPTION -- COMMAND...: runs the command, shows its output, and
# fails the demo if it does not succeed.
step() {
	local what="$1"; shift; shift
	echo
	bold "== $what"
	echo "\$ aileron-store-host ${SHOW:-$*}"
	local out rc=0
	out="$("$BIN" "$@" 2>&1)" || rc=$?
	[ -n "$out" ] && printf '%s\n' "$out"
	[ "$rc" -eq 0 ] || fail "\"$what\" exited $rc"
	LAST="$out"
}

# denied DESCRIPTION PATTERN -- COMMAND...: the command must fail with exit 1
# and print an error matching PATTERN, and nothing on stdout.
denied() {
	local what="$1" pattern="$2"; shift 3
	echo
	bold "== $what (must be refused)"
	echo "\$ aileron-store-host ${*}"
	local out errf rc=0
	errf="$(mktemp)"
	out="$("$BIN" "$@" 2>"$errf")" || rc=$?
	cat "$errf"
	if [ "$rc" -eq 0 ]; then rm -f "$errf"; fail "\"$what\" succeeded and printed: $out"; fi
	[ "$rc" -eq 1 ] || { rm -f "$errf"; fail "\"$what\" exited $rc, want 1"; }
	[ -z "$out" ] || { rm -f "$errf"; fail "\"$what\" printed a value: $out"; }
	grep -q -- "$pattern" "$errf" || { rm -f "$errf"; fail "\"$what\": error does not say \"$pattern\""; }
	rm -f "$errf"
	echo "(refused, as it must be)"
}

# expect_eq WHAT GOT WANT
expect_eq() { [ "$2" = "$3" ] || fail "$1: got \"$2\", want \"$3\""; echo "(checked: $1)"; }

# alice's passphrase comes from the environment; bob has none.
export AILERON_VAULT_PASSPHRASE="demo passphrase for alice"
step "alice creates an identity sealed under AILERON_VAULT_PASSPHRASE" -- identity new alice
unset AILERON_VAULT_PASSPHRASE
step "bob creates an identity without a passphrase" -- identity new bob --no-passphrase
step "list identities" -- identity list

as_alice() { AILERON_VAULT_PASSPHRASE="demo passphrase for alice" "$@"; }

as_alice step "alice creates vault team" -- vault create team --as alice

echo
bold "== alice stores two credentials (values from stdin)"
echo "\$ printf 'ghp_demo_token_1234' | aileron-store-host cred put team github-token --as alice"
printf 'ghp_demo_token_1234' | AILERON_VAULT_PASSPHRASE="demo passphrase for alice" "$BIN" cred put team github-token --as alice \
	|| fail "cred put github-token"
echo "\$ printf 'sk-demo-openai-5678' | aileron-store-host cred put team openai-key --as alice"
printf 'sk-demo-openai-5678' | AILERON_VAULT_PASSPHRASE="demo passphrase for alice" "$BIN" cred put team openai-key --as alice \
	|| fail "cred put openai-key"

as_alice step "alice lists the vault's credentials" -- cred list team --as alice
expect_eq "cred list" "$LAST" "$(printf 'github-token\nopenai-key')"
as_alice step "alice reads github-token back (exact bytes)" -- cred get team github-token --as alice
expect_eq "github-token" "$LAST" "ghp_demo_token_1234"

denied "bob reads before being granted" "not a member" -- cred get team github-token --as bob

step "bob shows his recipient string (public; what alice needs)" -- identity show bob
BOB_RECIPIENT="$("$BIN" identity show bob --recipient)"
SHOW='vault grant team "$BOB_RECIPIENT" --name bob --as alice' \
	as_alice step "alice grants bob (BOB_RECIPIENT=\$(aileron-store-host identity show bob --recipient))" -- vault grant team "$BOB_RECIPIENT" --name bob --as alice
TOKEN="$(printf '%s\n' "$LAST" | sed -n 's/^grant token: //p')"
[ -n "$TOKEN" ] || fail "vault grant printed no grant token"
SHOW='vault join team "$TOKEN" --as bob' \
	step "bob joins with the token alice handed him (his host pins this vault and its history)" -- vault join team "$TOKEN" --as bob
as_alice step "alice lists the members" -- vault members team --as alice
step "bob reads github-token" -- cred get team github-token --as bob
expect_eq "bob's github-token" "$LAST" "ghp_demo_token_1234"

as_alice step "alice revokes bob (rotates the key, re-encrypts, lists what bob could read)" -- vault revoke team bob --as alice
case "$LAST" in
*"github-token"*"openai-key"*) echo "(checked: the report names both credentials bob could read)" ;;
*) fail "revoke report does not list github-token and openai-key" ;;
esac

denied "bob reads after the revoke" "not a member" -- cred get team github-token --as bob
denied "bob lists after the revoke" "not a member" -- cred list team --as bob

as_alice step "alice still reads openai-key" -- cred get team openai-key --as alice
expect_eq "openai-key" "$LAST" "sk-demo-openai-5678"
as_alice step "alice's members after the revoke" -- vault members team --as alice
case "$LAST" in *bob*) fail "bob is still listed as a member" ;; esac

as_alice step "alice reads the vault's verified history (who signed what, when)" -- vault history team --as alice
case "$LAST" in
*created*granted*revoked*) echo "(checked: the history shows the create, the grant and the revoke)" ;;
*) fail "vault history does not show created, granted and revoked" ;;
esac

denied "a wrong passphrase" "wrong passphrase" -- cred get team openai-key --as alice --passphrase-file /dev/stdin <<<"not alice's passphrase"

echo
bold "== demo passed: every step behaved as it must"
