package conformance

// The registry lists every check in the order it runs. Each check is one
// behaviour; docs/conformance.md explains them all.
var registry = []Check{
	// errors
	{Name: "errors/not-found", Doc: "Get of a missing key fails with exactly sdk.ErrNotFound and the message names the key.", run: checkNotFound},
	{Name: "errors/conflict", Doc: "A failed precondition fails with exactly sdk.ErrConflict, names the key and leaves the value and version untouched.", run: checkConflict},
	{Name: "errors/invalid-key", Doc: "Get, Put and Delete of keys outside the documented charset and lengths fail with sdk.ErrInvalidArgument and store nothing.", run: checkInvalidKey},
	{Name: "errors/invalid-condition", Doc: "Delete with if-absent and if-version with an empty version fail with sdk.ErrInvalidArgument and change nothing.", run: checkInvalidCond},
	{Name: "errors/invalid-list-options", Doc: "List with a malformed prefix, an oversize start-after or a limit outside 0..MaxListLimit fails with sdk.ErrInvalidArgument.", run: checkInvalidList},
	{Name: "errors/canceled", Doc: "Every method called with a canceled context fails with context.Canceled; a canceled Put stored the whole value or nothing.", run: checkCanceled},
	{Name: "errors/deadline-exceeded", Doc: "Every method called with an expired deadline fails with context.DeadlineExceeded; an expired Delete removed the key or nothing.", run: checkDeadline},
	{Name: "errors/deadline-during-write", Doc: "Puts whose deadline passes while they run either succeed or fail with a context error, and the key then holds the old or the new value, whole.", run: checkDeadlineDuringWrite},
	{Name: "errors/canceled-while-contended", Doc: "A Put whose context is canceled while other clients write the same key returns within 2s of the cancel, with success or context.Canceled; afterwards a plain Put is not held up by canceled calls.", run: checkCanceledWhileContended},

	// round trip
	{Name: "roundtrip/empty-value", Doc: "A value of 0 bytes is stored and read back as 0 bytes.", run: checkEmptyValue},
	{Name: "roundtrip/one-byte", Doc: "A value of 1 byte reads back exactly.", run: checkOneByte},
	{Name: "roundtrip/all-byte-values", Doc: "A value holding every byte value 0-255 (and random binary data) reads back exactly.", run: checkAllBytes},
	{Name: "roundtrip/max-value", Doc: "A value of exactly the store's maximum size (sdk.MaxValueSize unless Capabilities says less) reads back exactly.", run: checkMaxValue},
	{Name: "roundtrip/value-over-max", Doc: "A value one byte over the maximum fails with sdk.ErrInvalidArgument naming the key and changes nothing.", run: checkOverMax},
	{Name: "roundtrip/overwrite", Doc: "An unconditional Put replaces the value and returns a new version.", run: checkOverwrite},
	{Name: "roundtrip/caller-owns-slices", Doc: "Put does not retain the caller's slice and Get and List return slices the caller may modify.", run: checkCallerOwns},
	{Name: "roundtrip/key-max-length", Doc: "Keys of exactly sdk.MaxKeyLen bytes and segments of exactly sdk.MaxSegmentLen bytes are stored and listed unchanged.", run: checkKeyMaxLen},
	{Name: "roundtrip/key-deep", Doc: "A key of 256 one-byte segments (511 bytes) is stored and listed unchanged.", run: checkKeyDeep},
	{Name: "roundtrip/key-charset", Doc: "Keys using every allowed character, at the edges of the charset, are stored, read and listed unchanged.", run: checkKeyCharset},
	{Name: "roundtrip/key-and-subkey", Doc: "A key and keys below it ('a' and 'a/b') coexist and are independent.", run: checkKeyAndSubkey},

	// compare-and-swap
	{Name: "cas/create-if-absent", Doc: "Put with if-absent creates a missing key and fails with sdk.ErrConflict on an existing one, leaving it intact.", run: checkCreateIfAbsent},
	{Name: "cas/replace-if-version", Doc: "Put with if-version of the current version replaces the value and returns a new version.", run: checkReplaceIfVersion},
	{Name: "cas/delete-if-version", Doc: "Delete with if-version of the current version removes the key.", run: checkDeleteIfVersion},
	{Name: "cas/stale-version", Doc: "Put and Delete with a stale or unknown version fail with sdk.ErrConflict and leave value and version intact.", run: checkStaleVersion},
	{Name: "cas/if-version-missing-key", Doc: "Put and Delete with if-version on a missing key (never written, or deleted) fail with sdk.ErrNotFound and create nothing.", run: checkIfVersionMissing},
	{Name: "cas/delete-missing", Doc: "An unconditional Delete of a missing key returns nil (it is idempotent).", run: checkDeleteMissing},
	{Name: "cas/identical-rewrite", Doc: "Rewriting identical bytes yields a new version, and the old version no longer matches (the S3 ETag ABA case).", run: checkIdenticalRewrite},
	{Name: "cas/recreate-new-version", Doc: "Deleting and recreating a key with identical bytes yields a new version; the version from before the delete no longer matches.", run: checkRecreate},
	{Name: "cas/versions-unique", Doc: "Many writes of identical bytes to one key all return distinct versions.", run: checkVersionsUnique},
	{Name: "cas/race-one-winner", Doc: "Independent clients racing create-if-absent, then replace-if-version, then delete-if-version on one key have exactly one winner per race, round after round.", run: checkRace},

	// list
	{Name: "list/empty", Doc: "A fresh store lists nothing, with and without a prefix.", run: checkListEmpty},
	{Name: "list/exact-order", Doc: "List returns exactly the stored keys in byte-wise order ('-' < '.' < '/' < digits < '_' < letters).", run: checkListOrder},
	{Name: "list/page-sizes", Doc: "Listing with every page size from 1 to N+1 yields the same keys in the same order.", run: checkListPageSizes},
	{Name: "list/start-after", Doc: "StartAfter excludes keys up to and including it, whether or not it exists, also with a prefix.", run: checkListStartAfter},
	{Name: "list/cursor-with-mutations", Doc: "A listing resumed after inserts and deletes (including of the cursor key) returns exactly the keys then present after the cursor.", run: checkListCursorMutations},
	{Name: "list/prefix-isolation", Doc: "Prefixes select by bytes: 'a' vs 'a-' vs 'a/' vs 'a/b/' each list exactly their keys.", run: checkListPrefix},
	{Name: "list/read-after-write", Doc: "A key is listed with its new version as soon as its Put returns, and not listed once its Delete returns, without sleeping.", run: checkListReadAfterWrite},
	{Name: "list/with-values", Doc: "List with values returns for each key exactly the value and version Get returns.", run: checkListWithValues},
	{Name: "list/with-values-large", Doc: "List with values of more than 9 MiB of maximum-size values (beyond the gRPC default limit and the SDK's page budget) returns them all whole, however the pages are cut.", run: checkListWithValuesLarge},
	{Name: "list/without-values", Doc: "List without values returns no values.", run: checkListWithoutValues},

	// concurrency
	{Name: "soak/random-ops", Doc: "Several clients doing bounded random get/put/delete/list/compare-and-swap only ever read whole values that were written for that key, or not-found.", run: checkSoak},

	// durability and crashes
	{Name: "durability/reopen-data", Doc: "After the store is closed and reopened, every key holds its last written value and deleted keys stay deleted.", run: checkReopenData, needs: needReopen},
	{Name: "durability/reopen-versions", Doc: "Versions survive a reopen: a version read before it still matches after it.", run: checkReopenVersions, needs: needReopen},
	{Name: "crash/kill-during-writes", Doc: "After the store is killed during writes and reopened, each key holds the value of its last completed write or of the write in flight, whole, and nothing else is listed.", run: checkCrash, needs: needKill | needReopen},

	// the core engine over the store
	{Name: "vault/lifecycle", Doc: "The core engine works over the store from two clients: create, put, get, list, grant, member read and write, rotate, revoke, delete.", run: checkVaultLifecycle},
	{Name: "vault/opaque-storage", Doc: "No vault name, member name, credential name or credential value (raw, case-folded, hex, base64 or base32) appears in any key or value the engine sends to the store.", run: checkVaultOpaque},
}
