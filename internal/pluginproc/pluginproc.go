// Package pluginproc reaches the plugin process behind an sdk.Client for
// this module's tests, chaos tools and conformance harness (kill it as a crash
// would, read its pid), and says whether this process was started as a
// plugin, without making any of it public API of the SDK.
//
// It cannot import package sdk (sdk imports it), so sdk registers the
// functions here when it is initialised, and they take the *sdk.Client as a
// value of type any.
package pluginproc

import (
	"errors"
	"os"
)

// The handshake cookie a host sets in a plugin's environment.
const (
	CookieKey   = "AILERON_STORE_PLUGIN"
	CookieValue = "7d1f0c9e-aileron-store-plugin-v1"
)

var (
	kill func(client any) (handled bool, err error)
	pid  func(client any) (handled bool, pid int)
)

// Register is called by package sdk, once, with its implementations.
func Register(killFn func(any) (bool, error), pidFn func(any) (bool, int)) {
	kill, pid = killFn, pidFn
}

// Kill sends SIGKILL to the plugin process of client (an *sdk.Client) and
// waits until it is gone, as a crash would; the client's next call starts a
// new process.
func Kill(client any) error {
	if kill != nil {
		if ok, err := kill(client); ok {
			return err
		}
	}
	return errors.New("pluginproc: not a plugin client")
}

// PID returns the process id of client's plugin (an *sdk.Client), or 0 when
// no process is running.
func PID(client any) int {
	if pid != nil {
		if ok, n := pid(client); ok {
			return n
		}
	}
	return 0
}

// LaunchedAsPlugin reports whether this process was started by a host as a
// plugin (the handshake cookie is set).
func LaunchedAsPlugin() bool { return os.Getenv(CookieKey) == CookieValue }
