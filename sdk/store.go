package sdk

import "context"

// Limits of the contract. Every Store accepts every key and value within them;
// the host and the SDK enforce them before a call reaches a plugin.
const (
	// MaxKeyLen is the maximum length of a key in bytes.
	MaxKeyLen = 512
	// MaxSegmentLen is the maximum length of one '/'-separated key segment.
	MaxSegmentLen = 128
	// MaxValueSize is the maximum size of a value in bytes (1 MiB).
	MaxValueSize = 1 << 20
	// DefaultListLimit is the page size used when ListOptions.Limit is 0.
	DefaultListLimit = 1000
	// MaxListLimit is the largest page size a caller may ask for.
	MaxListLimit = 1000
)

// Version is an opaque token that identifies one write of one key: an S3 ETag
// (made unique per write), a GCS generation, a PostgreSQL row version, a
// filesystem token. Two writes of a key never share a version, even when they
// store identical bytes, and a version is never the empty string.
type Version string

// CondMode says which precondition a Cond expresses.
type CondMode uint8

const (
	// CondNone: write or delete unconditionally.
	CondNone CondMode = iota
	// CondIfAbsent: Put succeeds only when the key does not exist.
	CondIfAbsent
	// CondIfVersion: Put or Delete succeeds only when the key's current
	// version equals the given one.
	CondIfVersion
)

// Cond is the precondition of a Put or Delete. The zero value is no
// precondition.
type Cond struct {
	mode    CondMode
	version Version
}

// None is the zero Cond: no precondition.
var None = Cond{}

// IfAbsent returns the condition "the key does not exist".
func IfAbsent() Cond { return Cond{mode: CondIfAbsent} }

// IfVersion returns the condition "the key exists and its version is v".
func IfVersion(v Version) Cond { return Cond{mode: CondIfVersion, version: v} }

// Mode reports which precondition c expresses.
func (c Cond) Mode() CondMode { return c.mode }

// Version returns the version of a CondIfVersion condition.
func (c Cond) Version() Version { return c.version }

// String describes c for error messages.
func (c Cond) String() string {
	switch c.mode {
	case CondIfAbsent:
		return "if-absent"
	case CondIfVersion:
		return "if-version(" + string(c.version) + ")"
	default:
		return "none"
	}
}

// ListOptions select one page of a listing.
type ListOptions struct {
	// Prefix restricts the listing to keys that start with it (byte-wise). It
	// is made of key characters and may end with '/'; "" lists every key.
	Prefix string
	// StartAfter restricts the listing to keys strictly greater than it
	// (byte-wise). Pass the last key of the previous page to get the next one;
	// it need not exist any more.
	StartAfter string
	// Limit is the maximum number of entries in the page, 0 meaning
	// DefaultListLimit. It must not exceed MaxListLimit.
	Limit int
	// WithValues asks for each entry's value as well.
	WithValues bool
}

// Entry is one key of a listing.
type Entry struct {
	Key     string
	Version Version
	// Value is set only when ListOptions.WithValues was true.
	Value []byte
}

// Page is one page of a listing.
type Page struct {
	// Entries are in strictly increasing byte-wise key order.
	Entries []Entry
	// More reports that keys after the last entry may exist. When More is
	// false the listing is complete. A page may hold fewer than Limit entries
	// (even none) while More is true; callers continue with StartAfter set to
	// the last entry's key, or to their previous StartAfter if the page is
	// empty.
	More bool
}

// Store is the contract every storage backend implements. The core hands it
// only opaque keys (see ValidateKey) and opaque, already encrypted values.
//
// All methods are safe for concurrent use, by many goroutines and by many
// processes or hosts sharing one backend: correctness between them comes from
// the compare-and-swap conditions, never from a lock held in one process.
//
// Every method honours its context: when ctx is canceled or its deadline
// passes, the method returns promptly with an error wrapping context.Canceled
// or context.DeadlineExceeded, and a write either took effect completely or
// not at all.
//
// Errors wrap exactly one sentinel of this package (see ErrNotFound and the
// others) and name the key or field at fault.
//
// Arguments are checked by the calling side, once, never by an
// implementation: a key (ValidateKey), a value within the Store's
// Capabilities, a condition valid for the method (ValidateCond), list options
// within the limits and with Limit defaulted (ValidateListOptions). Serve
// wraps a plugin's Store with Checked, which returns ErrInvalidArgument for a
// call outside these limits before it reaches the Store; so does the
// conformance harness, and the host's Client checks before a call leaves the
// host. An implementation therefore assumes valid arguments and implements
// only the semantics below; in-process code that may pass invalid arguments
// calls a Store through Checked.
type Store interface {
	// Get returns the value stored under key and its version. A missing key is
	// ErrNotFound. The returned slice belongs to the caller.
	//
	// Get is strongly consistent: it observes every Put and Delete that
	// returned before Get was called.
	Get(ctx context.Context, key string) ([]byte, Version, error)

	// Put stores value under key if cond holds and returns the new version.
	//
	//   - None: always writes.
	//   - IfAbsent: writes only if the key does not exist, else ErrConflict.
	//   - IfVersion(v): writes only if the key's current version is v; if the
	//     key exists with another version, ErrConflict; if it does not exist,
	//     ErrNotFound.
	//
	// A failed condition leaves the stored value untouched. A write is atomic:
	// a concurrent or later reader sees the old value or the new one, never a
	// mix, also across a crash of the Store's process. A value of 0 bytes is
	// valid. Put must not retain value after it returns.
	Put(ctx context.Context, key string, value []byte, cond Cond) (Version, error)

	// Delete removes key if cond holds.
	//
	//   - None: deletes the key; deleting a missing key is not an error
	//     (returns nil), so an unconditional delete is idempotent.
	//   - IfVersion(v): deletes only if the key's current version is v; if the
	//     key exists with another version, ErrConflict; if it does not exist,
	//     ErrNotFound.
	//   - IfAbsent: ErrInvalidArgument.
	Delete(ctx context.Context, key string, cond Cond) error

	// List returns one page of the keys that start with opts.Prefix and sort
	// after opts.StartAfter, in strictly increasing byte-wise order. It is
	// strongly consistent after writes: a key whose Put returned is listed, a
	// key whose Delete returned is not. With opts.WithValues each entry holds
	// the value and version that a Get at that moment would return.
	List(ctx context.Context, opts ListOptions) (Page, error)

	// Close releases the Store's resources. Calls after Close may fail.
	Close() error
}

// Capabilities describe what a Store offers beyond the contract's minimum.
type Capabilities struct {
	// MaxValueSize is the largest value the Store accepts; never above
	// MaxValueSize. 0 means MaxValueSize.
	MaxValueSize int
	// NativeListValues reports that List with WithValues costs one round trip
	// to the backend (PostgreSQL) rather than one read per entry.
	NativeListValues bool
	// AtomicGuard reports that WriteBatch checks its guard atomically with
	// every write it applies (see Batcher). False means the guard is checked
	// once before the writes, which leaves a window in which the guard key can
	// move on while the writes land.
	AtomicGuard bool
	// Report holds what the Store found out about its backend when it was
	// configured, as short notes for operators (name -> finding; for the S3
	// plugin, its probe of the server: the conditional-delete mode, the form
	// of ETags, listing quirks). `aileron-store-host plugin verify` and
	// `conformance` print it. It carries no secret and changes no behaviour
	// of the host. Across the plugin boundary at most MaxReportEntries
	// entries of at most MaxReportLen bytes each are kept.
	Report map[string]string
}

// Bounds of Capabilities.Report across the plugin boundary.
const (
	MaxReportEntries = 32
	MaxReportLen     = 512
)

// CapabilityReporter is implemented by a Store that reports Capabilities. A
// Store that does not is assumed to have the zero Capabilities.
type CapabilityReporter interface {
	Capabilities() Capabilities
}

// Factory creates a Store from the opaque configuration map that the host
// passes through. It validates the map and returns an error wrapping
// ErrInvalidArgument that names the offending field (for example
// `invalid argument: config field "bucket": required`). Unknown fields are
// errors too, so that a typo is not silently ignored. A Factory may contact
// its backend to check that it is reachable and usable.
type Factory func(ctx context.Context, config map[string]string) (Store, error)
