// Package hostapi is the wire format of the host's local API (the Vault
// gRPC service served by `aileron-store-host serve` on a unix socket). It is
// internal: the runtime that uses it lives in this repository or speaks the
// proto directly.
package hostapi

//go:generate ./gen.sh
