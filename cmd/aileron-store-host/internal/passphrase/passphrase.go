// Package passphrase obtains identity passphrases: from --passphrase-file,
// else from $AILERON_VAULT_PASSPHRASE, else by prompting on the terminal.
// A passphrase is never taken from a command-line argument (it would show in
// ps and shell history), and a run with no terminal and no passphrase source
// fails at once with a clear error instead of waiting for input.
package passphrase

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// EnvVar is the environment variable holding a passphrase.
const EnvVar = "AILERON_VAULT_PASSPHRASE"

// ErrNoPassphrase reports that no passphrase source is available.
var ErrNoPassphrase = errors.New("no passphrase available")

// ErrMismatch reports that the two entries of a new passphrase differ.
var ErrMismatch = errors.New("passphrases do not match")

// ErrEmpty reports an empty passphrase.
var ErrEmpty = errors.New("empty passphrase")

// MaxLen is the longest passphrase accepted (bytes).
const MaxLen = 4096

// Terminal is where prompts are shown and read.
type Terminal interface {
	// ReadPassword prints prompt and reads one line without echo.
	ReadPassword(prompt string) ([]byte, error)
}

// Source says where passphrases come from. The zero value reads
// $AILERON_VAULT_PASSPHRASE and prompts on /dev/tty.
type Source struct {
	// File is the --passphrase-file flag; "" when not given.
	File string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Terminal prompts; nil means the controlling terminal (/dev/tty), if
	// there is one.
	Terminal Terminal
}

// Get returns the passphrase for an existing secret; what names it in the
// prompt (e.g. `identity "alice"`). The caller clears the result.
func (s Source) Get(what string) ([]byte, error) {
	if p, ok, err := s.fromFileOrEnv(); ok || err != nil {
		return p, err
	}
	t, err := s.terminal(what)
	if err != nil {
		return nil, err
	}
	p, err := t.ReadPassword(fmt.Sprintf("Passphrase for %s: ", what))
	if err != nil {
		return nil, fmt.Errorf("reading passphrase for %s from the terminal: %w", what, err)
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("%w for %s", ErrEmpty, what)
	}
	return p, nil
}

// New returns a new passphrase for what. On a terminal it is asked twice and
// both entries must match.
func (s Source) New(what string) ([]byte, error) {
	if p, ok, err := s.fromFileOrEnv(); ok || err != nil {
		return p, err
	}
	t, err := s.terminal(what)
	if err != nil {
		return nil, err
	}
	p1, err := t.ReadPassword(fmt.Sprintf("New passphrase for %s: ", what))
	if err != nil {
		return nil, fmt.Errorf("reading passphrase for %s from the terminal: %w", what, err)
	}
	if len(p1) == 0 {
		return nil, fmt.Errorf("%w for %s (use --no-passphrase for an unprotected identity)", ErrEmpty, what)
	}
	p2, err := t.ReadPassword(fmt.Sprintf("Repeat passphrase for %s: ", what))
	if err != nil {
		clear(p1)
		return nil, fmt.Errorf("reading passphrase for %s from the terminal: %w", what, err)
	}
	defer clear(p2)
	if !bytes.Equal(p1, p2) {
		clear(p1)
		return nil, fmt.Errorf("%w for %s", ErrMismatch, what)
	}
	return p1, nil
}

// Interactive reports whether passphrases would be prompted for rather
// than read from a file or the environment.
func (s Source) Interactive() bool {
	return s.File == "" && s.getenv(EnvVar) == ""
}

func (s Source) getenv(k string) string {
	if s.Getenv != nil {
		return s.Getenv(k)
	}
	return os.Getenv(k)
}

func (s Source) fromFileOrEnv() ([]byte, bool, error) {
	if s.File != "" {
		p, err := ReadFile(s.File)
		return p, true, err
	}
	if v := s.getenv(EnvVar); v != "" {
		if len(v) > MaxLen {
			return nil, true, fmt.Errorf("$%s is longer than %d bytes", EnvVar, MaxLen)
		}
		return []byte(v), true, nil
	}
	return nil, false, nil
}

func (s Source) terminal(what string) (Terminal, error) {
	if s.Terminal != nil {
		return s.Terminal, nil
	}
	t, err := openTerminal()
	if err != nil {
		return nil, fmt.Errorf("%w for %s: not running on a terminal; set %s or pass --passphrase-file FILE", ErrNoPassphrase, what, EnvVar)
	}
	return t, nil
}

// ReadFile reads a passphrase file: its contents without one trailing
// newline ("\n" or "\r\n").
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	defer f.Close()
	p, err := io.ReadAll(io.LimitReader(f, MaxLen+3))
	if err != nil {
		return nil, fmt.Errorf("passphrase file %s: %w", path, err)
	}
	switch {
	case bytes.HasSuffix(p, []byte("\r\n")):
		p = p[:len(p)-2]
	case bytes.HasSuffix(p, []byte("\n")):
		p = p[:len(p)-1]
	}
	if len(p) > MaxLen {
		clear(p)
		return nil, fmt.Errorf("passphrase file %s: longer than %d bytes", path, MaxLen)
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("passphrase file %s: %w", path, ErrEmpty)
	}
	return p, nil
}

type tty struct{ f *os.File }

// openTerminal opens the controlling terminal; a variable for tests.
var openTerminal = func() (Terminal, error) { return openTTY() }

func openTTY() (*tty, error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if !term.IsTerminal(int(f.Fd())) {
		f.Close()
		return nil, errors.New("/dev/tty is not a terminal")
	}
	return &tty{f: f}, nil
}

func (t *tty) ReadPassword(prompt string) ([]byte, error) {
	if _, err := io.WriteString(t.f, prompt); err != nil {
		return nil, err
	}
	p, err := term.ReadPassword(int(t.f.Fd()))
	io.WriteString(t.f, "\n")
	if err != nil {
		return nil, err
	}
	if len(p) > MaxLen {
		clear(p)
		return nil, fmt.Errorf("longer than %d bytes", MaxLen)
	}
	return p, nil
}
