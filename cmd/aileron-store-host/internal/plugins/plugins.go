// Package plugins finds storage plugin binaries and checks their pins.
//
// A plugin named NAME is the executable aileron-store-NAME, looked for in
// order: the configured plugin directory, the directory holding the host
// binary, then PATH. The filesystem plugin is also built into the host
// binary: when no aileron-store-fs is found, the host re-executes itself as
// the fs plugin, so the host binary alone is a working tool.
package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Prefix is the file name prefix of every plugin binary.
const Prefix = "aileron-store-"

// BuiltinArg is the argument with which the host re-executes itself as the
// built-in fs plugin (passed as sdk.ClientOptions.Args).
const BuiltinArg = "__plugin-fs"

// BuiltIn names the plugins that ship with aileron-store.
var BuiltIn = []string{"fs", "gcs", "postgres", "s3"}

// Where a plugin binary was found.
const (
	SourcePluginDir = "plugin_dir"
	SourceBeside    = "beside host"
	SourcePath      = "PATH"
	SourceHost      = "host binary (built-in fs)"
)

// Location is a plugin binary found on disk.
type Location struct {
	Name   string   // plugin name, e.g. "s3"
	Path   string   // absolute path of the executable
	Args   []string // extra arguments (the re-exec of the host binary as fs)
	Source string   // one of the Source* constants
}

// Finder looks for plugin binaries.
type Finder struct {
	// PluginDir is searched first; "" means none.
	PluginDir string
	// HostPath is the host binary's path (os.Executable); its directory is
	// searched second and it serves as the fs plugin of last resort. ""
	// disables both.
	HostPath string
	// NoPath disables the PATH search (tests).
	NoPath bool
}

// ErrNotFound reports a plugin binary that is nowhere to be found.
var ErrNotFound = errors.New("plugin not found")

// Find returns the binary of plugin name.
func (f Finder) Find(name string) (Location, error) {
	if !validName(name) {
		return Location{}, fmt.Errorf("plugin name %q: must be lower-case letters, digits and '-'", name)
	}
	file := Prefix + name
	var looked []string
	for _, d := range f.dirs() {
		p := filepath.Join(d.dir, file)
		looked = append(looked, p)
		if isExecutable(p) {
			return Location{Name: name, Path: p, Source: d.source}, nil
		}
	}
	if !f.NoPath {
		looked = append(looked, "$PATH")
		if p, err := exec.LookPath(file); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
			return Location{Name: name, Path: p, Source: SourcePath}, nil
		}
	}
	if name == "fs" && f.HostPath != "" {
		return Location{Name: name, Path: f.HostPath, Args: []string{BuiltinArg}, Source: SourceHost}, nil
	}
	return Location{}, fmt.Errorf("%w: no executable %s in %s", ErrNotFound, file, strings.Join(looked, ", "))
}

// List returns every plugin that can be found: the built-in names and any
// other aileron-store-* executable in the searched directories, by name.
// Where one name is found in several places, the one Find would use wins.
func (f Finder) List() []Location {
	names := map[string]bool{}
	for _, n := range BuiltIn {
		names[n] = true
	}
	dirs := f.dirs()
	var all []string
	for _, d := range dirs {
		all = append(all, d.dir)
	}
	if !f.NoPath {
		all = append(all, filepath.SplitList(os.Getenv("PATH"))...)
	}
	for _, d := range all {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, Prefix) && validName(n[len(Prefix):]) && isExecutable(filepath.Join(d, n)) {
				if n[len(Prefix):] == "host" || n[len(Prefix):] == "bench" {
					continue // the host itself, and its bench binary
				}
				names[n[len(Prefix):]] = true
			}
		}
	}
	var out []Location
	for n := range names {
		if loc, err := f.Find(n); err == nil {
			out = append(out, loc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

type dir struct{ dir, source string }

func (f Finder) dirs() []dir {
	var ds []dir
	if f.PluginDir != "" {
		ds = append(ds, dir{f.PluginDir, SourcePluginDir})
	}
	if f.HostPath != "" {
		ds = append(ds, dir{filepath.Dir(f.HostPath), SourceBeside})
	}
	return ds
}

func validName(n string) bool {
	if n == "" || len(n) > 63 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0) {
			return false
		}
	}
	return true
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// SHA256 returns the hex SHA-256 of the file at path.
func SHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hashing plugin binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing plugin binary %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ErrPinMismatch reports a plugin binary whose SHA-256 is not the pinned one.
var ErrPinMismatch = errors.New("plugin binary does not match its sha256 pin")

// CheckPin compares the binary's SHA-256 with pin ("" means no pin, always
// fine) and returns the actual hash.
func CheckPin(path, pin string) (string, error) {
	sum, err := SHA256(path)
	if err != nil {
		return "", err
	}
	if pin != "" && !strings.EqualFold(sum, pin) {
		return sum, fmt.Errorf("%w: %s has sha256 %s, storage.sha256 pins %s", ErrPinMismatch, path, sum, strings.ToLower(pin))
	}
	return sum, nil
}
