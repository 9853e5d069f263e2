package wire

import "fmt"

// Kinds lists the record kinds Decode accepts.
var Kinds = []string{"identity", "recipient", "recipient-string", "slot", "slot-payload", "index", "name", "head", "meta", "record", "record-plain", "pin"}

// Decode decodes b as the record kind and reports only the error; it is the
// single entry point of the test vectors and fuzz targets.
func Decode(kind string, b []byte) error {
	var err error
	switch kind {
	case "identity":
		_, err = ParseIdentity(b)
	case "recipient":
		_, err = ParseRecipientBytes(b)
	case "recipient-string":
		_, err = ParseRecipientString(string(b))
	case "slot":
		_, err = ParseSlot(b)
	case "slot-payload":
		_, err = ParseSlotPayload(b)
	case "index":
		_, err = ParseIndexEntry(b)
	case "name":
		_, err = ParseName(b)
	case "head":
		_, err = ParseHead(b)
	case "meta":
		_, err = ParseMeta(b)
	case "record":
		_, err = ParseRecord(b)
	case "record-plain":
		_, err = ParseRecordPlain(b)
	case "pin":
		_, err = ParsePin(b)
	default:
		return fmt.Errorf("wire: unknown kind %q", kind)
	}
	return err
}
