package conformance

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// A stamped value names the key it was written for, its writer and the
// writer's sequence number, and ends with a SHA-256 of everything before, so
// that a reader can tell a whole written value from a torn, mixed or
// misplaced one.
const stampMagic = "aileron-conformance\x00"

func stamp(key string, writer, seq, size int) []byte {
	head := fmt.Sprintf("%s%s\x00%d\x00%d\x00", stampMagic, key, writer, seq)
	n := max(size-len(head)-sha256.Size, 0)
	b := make([]byte, 0, len(head)+n+sha256.Size)
	b = append(b, head...)
	b = append(b, randomBytes(rand.New(rand.NewPCG(uint64(writer), uint64(seq))), n)...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// unstamp checks that b is a whole stamped value written for key and returns
// its writer and sequence number.
func unstamp(key string, b []byte) (writer, seq int, err error) {
	if len(b) < len(stampMagic)+sha256.Size || !bytes.HasPrefix(b, []byte(stampMagic)) {
		return 0, 0, fmt.Errorf("%s is not a value the suite wrote", describe(b))
	}
	body := b[:len(b)-sha256.Size]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], b[len(body):]) {
		return 0, 0, fmt.Errorf("a %d-byte value is torn or mixed (its checksum does not match)", len(b))
	}
	fields := bytes.SplitN(body[len(stampMagic):], []byte{0}, 4)
	if len(fields) != 4 {
		return 0, 0, errors.New("a value has a malformed stamp")
	}
	if string(fields[0]) != key {
		return 0, 0, fmt.Errorf("the value read for key %q was written for key %q", key, fields[0])
	}
	if writer, err = strconv.Atoi(string(fields[1])); err != nil {
		return 0, 0, errors.New("a value has a malformed writer")
	}
	if seq, err = strconv.Atoi(string(fields[2])); err != nil {
		return 0, 0, errors.New("a value has a malformed sequence number")
	}
	return writer, seq, nil
}
