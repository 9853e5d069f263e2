package s3

import (
	"crypto/rand"
	"strings"

	"github.com/ALRubinger/aileron-store/sdk"
)

// Object names.
//
// The object holding key k is named <prefix>/<k>! (or <k>! without a prefix).
// The '!' suffix exists because file-backed S3 servers (versitygw's posix
// backend, MinIO in single-drive fs mode, ...) store an object as a file, so
// they cannot hold both an object "a" and an object "a/b" (a file and a
// directory of the same name). With the suffix those are "a!" and "a/b!":
// '!' is not a key character, so no directory (a key segment) ever collides
// with a file (a last segment plus '!').
//
// '!' (0x21) sorts below every key character ('-' is 0x2d, the smallest), so
// the byte-wise order of object names is the byte-wise order of keys, which
// lets ListObjectsV2 serve List directly: if k is a proper prefix of j then
// k! < j! because the byte after k in j is a key character, above '!'.
const nameSuffix = "!"

// probeName is the object New writes to check conditional-write support. Its
// '!' in the middle makes it impossible as a key's object name (where '!' is
// only last) and as a directory (key segments hold no '!').
const probeName = "_aileron-probe!"

func (s *Store) objectName(key string) string { return s.objPrefix + key + nameSuffix }

// keyOf maps an object name from a listing back to its key, reporting false
// for an object that is not a key's (the probe, foreign objects, directory
// markers).
func (s *Store) keyOf(name string) (string, bool) {
	if !strings.HasPrefix(name, s.objPrefix) || !strings.HasSuffix(name, nameSuffix) {
		return "", false
	}
	k := name[len(s.objPrefix) : len(name)-len(nameSuffix)]
	if sdk.ValidateKey(k) != nil {
		return "", false
	}
	return k, true
}

// listStartAfter returns the ListObjectsV2 StartAfter for the keys strictly
// after after. Let i be the first byte of after that is neither a key
// character nor '/' and h = after[:i]:
//
//   - no such byte: after! is exact (see nameSuffix);
//   - after[i] <= '!': the keys above after are those above h, and h! is
//     exact (h itself is below after);
//   - after[i] > 'z' (above every key character): the keys above after are
//     those above h that do not start with h, and h~ is exact ('~' is above
//     every key character and '!');
//   - otherwise h is a lower bound: every key above after has an object name
//     above it; List drops the few keys at or below after.
func (s *Store) listStartAfter(after string) string {
	if after == "" {
		return ""
	}
	for i := 0; i < len(after); i++ {
		c := after[i]
		switch {
		case c == '/' || sdk.KeyByte(c):
			continue
		case c <= '!':
			return s.objPrefix + after[:i] + nameSuffix
		case c > 'z':
			return s.objPrefix + after[:i] + "~"
		default:
			return s.objPrefix + after[:i]
		}
	}
	return s.objPrefix + after + nameSuffix
}

// Object bodies.
//
// S3 ETags are content hashes (MD5 for single-part uploads), so rewriting
// identical bytes would repeat the ETag and let a stale If-Match succeed (the
// ABA problem). Every write therefore stores a small random header in front of
// the value:
//
//	value object:     "aS3" 0x01 <16 random bytes> <value>   (20 bytes + value)
//	tombstone object: "aS3" 0x02 <12 random bytes>           (16 bytes)
//
// The random bytes change the ETag of every write, even of identical values.
// Get strips the header; an object without it is reported as corrupt, not
// returned. Tombstones are used only in conditional_delete=tombstone mode
// (see Store.Delete); they are smaller than any value object so that a listing
// tells them apart by size without reading them.
const (
	headerLen    = 20
	tombstoneLen = 16
	kindValue    = 0x01
	kindTomb     = 0x02
)

var magic = [3]byte{'a', 'S', '3'}

// encodeValue returns header+value in a new slice.
func encodeValue(value []byte) ([]byte, error) {
	b := make([]byte, headerLen+len(value))
	copy(b, magic[:])
	b[3] = kindValue
	if _, err := rand.Read(b[4:headerLen]); err != nil {
		return nil, sdk.Errorf(sdk.ErrUnavailable, "reading random bytes for the write nonce: %v", err)
	}
	copy(b[headerLen:], value)
	return b, nil
}

func encodeTombstone() ([]byte, error) {
	b := make([]byte, tombstoneLen)
	copy(b, magic[:])
	b[3] = kindTomb
	if _, err := rand.Read(b[4:]); err != nil {
		return nil, sdk.Errorf(sdk.ErrUnavailable, "reading random bytes for the write nonce: %v", err)
	}
	return b, nil
}

// objKind classifies a stored body.
type objKind int

const (
	objCorrupt objKind = iota
	objValue
	objTombstone
)

// decode returns the kind of body b and, for a value, the value (a subslice
// of b).
func decode(b []byte) (objKind, []byte) {
	switch {
	case len(b) >= headerLen && b[0] == magic[0] && b[1] == magic[1] && b[2] == magic[2] && b[3] == kindValue:
		return objValue, b[headerLen:]
	case len(b) == tombstoneLen && b[0] == magic[0] && b[1] == magic[1] && b[2] == magic[2] && b[3] == kindTomb:
		return objTombstone, nil
	}
	return objCorrupt, nil
}
