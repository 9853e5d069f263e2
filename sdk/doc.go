// Package sdk is the storage contract of aileron-store and everything a
// plugin author needs to implement it.
//
// A storage plugin implements [Store]: a small, blob-oriented key/value
// interface with compare-and-swap. The aileron-store core encrypts every value
// before it reaches a Store and names every key with opaque identifiers, so a
// Store never sees a secret, a credential name or a vault name.
//
// A plugin binary is one call from main:
//
//	func main() { sdk.Serve(mystore.New, nil) }
//
// Serve checks every call's arguments ([Checked]) before they reach the
// Store, so a Store implements only the semantics. A Factory reads its
// configuration with [ReadConfig] and may namespace its store with
// [WithPrefix]; package filelock is a cross-process lock for stores that take
// compare-and-swap from a lock file.
//
// The host talks to a plugin through [Open], which returns a [*Client] that is
// itself a Store. Errors cross the process boundary intact: a plugin that
// returns an error wrapping [ErrConflict] gives the host an error for which
// errors.Is(err, sdk.ErrConflict) is true.
package sdk
