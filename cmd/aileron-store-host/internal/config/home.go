package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// Home returns the local state directory: flag (the --home flag) if set,
// else $AILERON_STORE_HOME, else ~/.aileron-store. getenv nil means
// os.Getenv.
func Home(flag string, getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	h := flag
	if h == "" {
		h = getenv(EnvHome)
	}
	if h == "" {
		u, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory for local state: set --home or %s (%v)", EnvHome, err)
		}
		h = filepath.Join(u, ".aileron-store")
	}
	abs, err := filepath.Abs(h)
	if err != nil {
		return "", fmt.Errorf("home directory %q: %w", h, err)
	}
	return abs, nil
}

// EnsureDir creates dir (and its parents) owner-only (0700) if it does not
// exist. An existing directory that others can read or write is tightened
// to 0700 when we own it, else refused: it holds identities and pins.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("directory %s is accessible by other users (mode %o) and could not be made owner-only: %w", dir, fi.Mode().Perm(), err)
		}
	}
	return nil
}
