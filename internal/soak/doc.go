// Package soak proves the promises of the core and the plugins across real
// processes: a multi-process soak on one backend with plugin and host crashes
// injected (worker.go), an offline checker that replays every worker's log of
// acknowledged operations against the final state of the store (checker.go),
// and a raw inspection of the stored blobs' headers (inspect.go).
//
// The tests (soak_test.go, evil_test.go) run the soak on every backend and
// drive the malicious test plugin of ./evilplugin. docs/reliability.md holds
// the threat model and the figures of the runs.
//
// Everything here is for tests: nothing in it is API.
package soak
