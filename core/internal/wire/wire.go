// Package wire holds the byte layouts of every record aileron-store writes:
// identity files, recipients, key slots, vault heads, credential records,
// member index entries and local rollback pins. It encodes and decodes them
// strictly (exact lengths, known versions and suites, no trailing bytes) and
// never panics on hostile input. Cryptography other than the identity seal
// lives in package core; docs/format.md is the specification.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every decoding error: the bytes are not a valid
// encoding of the record kind (truncated, trailing data, unknown version or
// suite, inconsistent lengths).
var ErrMalformed = errors.New("malformed")

// Sizes shared by several records.
const (
	IDLen         = 16 // vault and member ids
	RecordIDLen   = 32 // record ids (HMAC-SHA-256 output)
	HashLen       = 32 // SHA-256
	KeyLen        = 32 // symmetric keys
	Ed25519PubLen = 32
	Ed25519SigLen = 64
)

// Label prefixes every domain-separation string.
const Label = "aileron-store/v1 "

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// reader decodes big-endian fields and remembers the first error.
type reader struct {
	b    []byte
	off  int
	what string
	err  error
}

func newReader(b []byte, what string) *reader { return &reader{b: b, what: what} }

func (r *reader) take(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.err = malformed("%s truncated at %s (offset %d, need %d bytes, have %d)", r.what, field, r.off, n, len(r.b)-r.off)
		return nil
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s
}

func (r *reader) u8(field string) uint8 {
	s := r.take(1, field)
	if s == nil {
		return 0
	}
	return s[0]
}

func (r *reader) u16(field string) uint16 {
	s := r.take(2, field)
	if s == nil {
		return 0
	}
	return binary.BigEndian.Uint16(s)
}

func (r *reader) u32(field string) uint32 {
	s := r.take(4, field)
	if s == nil {
		return 0
	}
	return binary.BigEndian.Uint32(s)
}

func (r *reader) u64(field string) uint64 {
	s := r.take(8, field)
	if s == nil {
		return 0
	}
	return binary.BigEndian.Uint64(s)
}

// copyN returns a copy of the next n bytes.
func (r *reader) copyN(n int, field string) []byte {
	s := r.take(n, field)
	if s == nil {
		return nil
	}
	return append([]byte(nil), s...)
}

func (r *reader) fixed(dst []byte, field string) {
	if s := r.take(len(dst), field); s != nil {
		copy(dst, s)
	}
}

func (r *reader) magic(m string) {
	s := r.take(len(m), "magic")
	if s != nil && string(s) != m {
		r.err = malformed("%s has wrong magic", r.what)
	}
}

func (r *reader) version(want uint8) {
	v := r.u8("version")
	if r.err == nil && v != want {
		r.err = malformed("%s has unsupported format version %d", r.what, v)
	}
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = malformed(r.what+" "+format, args...)
	}
}

// end reports the first error, or trailing bytes.
func (r *reader) end() error {
	if r.err != nil {
		return r.err
	}
	if r.off != len(r.b) {
		return malformed("%s has %d trailing bytes", r.what, len(r.b)-r.off)
	}
	return nil
}

// writer appends big-endian fields.
type writer struct{ b []byte }

func (w *writer) u8(v uint8)       { w.b = append(w.b, v) }
func (w *writer) u16(v uint16)     { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32)     { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64)     { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) raw(p []byte)     { w.b = append(w.b, p...) }
func (w *writer) str(s string)     { w.b = append(w.b, s...) }
func (w *writer) bytes16(p []byte) { w.u16(uint16(len(p))); w.raw(p) }
func (w *writer) bytes32(p []byte) { w.u32(uint32(len(p))); w.raw(p) }
