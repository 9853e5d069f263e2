package core

import (
	"errors"
	"fmt"
)

// Sentinel errors, usable with errors.Is. Messages name the vault, record
// kind and id at fault, never a secret. Errors from the Store pass through
// wrapped, so errors.Is(err, sdk.ErrUnavailable) still works.
var (
	// ErrWrongPassphrase: the passphrase does not open the identity file.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrNotMember: the identity is not a member of the vault (or was revoked).
	ErrNotMember = errors.New("not a member of the vault")
	// ErrNotAdmin: the operation needs an admin member.
	ErrNotAdmin = errors.New("not an admin of the vault")
	// ErrTampered: stored data failed authentication or decoding: it was
	// corrupted, truncated, swapped or forged.
	ErrTampered = errors.New("tampered or corrupt data")
	// ErrRollback: the backend served data older than this host has already
	// seen (a vault head that goes backwards or does not chain to the pin, or
	// a record below the vault's minimum epoch).
	ErrRollback = errors.New("rollback detected")
	// ErrLocked: the vault handle was locked or its session expired.
	ErrLocked = errors.New("vault is locked")
	// ErrCredentialNotFound: no credential of that name.
	ErrCredentialNotFound = errors.New("credential not found")
	// ErrVaultNotFound: no vault of that name for this identity.
	ErrVaultNotFound = errors.New("vault not found")
	// ErrVaultExists: the identity already has a vault of that name.
	ErrVaultExists = errors.New("vault already exists")
	// ErrMemberExists: the recipient or member name is already a member.
	ErrMemberExists = errors.New("member already exists")
	// ErrMemberNotFound: no member of that name.
	ErrMemberNotFound = errors.New("member not found")
	// ErrPinnedVault: this host has opened a vault under that name before
	// (or was given a grant token for it), and the backend no longer offers
	// that vault under the name: its index entry is missing or does not
	// open. The host refuses to open any other vault in its place.
	ErrPinnedVault = errors.New("pinned vault unavailable")
	// ErrAmbiguousVault: the identity is listed in several vaults of that
	// name and this host has no pin to choose between them; open it with
	// the grant token of the intended vault.
	ErrAmbiguousVault = errors.New("several vaults have that name")
)

// Record kinds named in errors.
const (
	kindHead   = "vault head"
	kindSlot   = "key slot"
	kindRecord = "credential record"
	kindIndex  = "index entry"
	kindPin    = "rollback pin"
)

// tampered wraps ErrTampered naming the record kind and its storage key.
func tampered(kind, key string, cause error) error {
	if cause == nil {
		return fmt.Errorf("%w: %s %q", ErrTampered, kind, key)
	}
	return fmt.Errorf("%w: %s %q: %v", ErrTampered, kind, key, cause)
}

func tamperedf(kind, key, format string, args ...any) error {
	return fmt.Errorf("%w: %s %q: %s", ErrTampered, kind, key, fmt.Sprintf(format, args...))
}

func rollbackf(kind, key, format string, args ...any) error {
	return fmt.Errorf("%w: %s %q: %s", ErrRollback, kind, key, fmt.Sprintf(format, args...))
}
