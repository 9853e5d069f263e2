// Package hostapiv1 is the generated Go code of version 1 of the local API
// of aileron-store-host (the gRPC service aileron.store.host.v1.Vault that
// `aileron-store-host serve` offers on a unix socket). hostapi.proto in this
// directory is the reference for clients in any language.
//
// Go programs usually want package
// github.com/ALRubinger/aileron-store/api/hostclient instead: it dials the
// socket, keeps the session and maps status codes to sentinel errors.
//
// Compatibility: within v1, fields and calls are only added, never renumbered
// or removed; an incompatible change gets a new package, v2.
package hostapiv1

//go:generate ./gen.sh
