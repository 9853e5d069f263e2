package passphrase

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type fakeTTY struct {
	answers [][]byte
	prompts []string
}

func (f *fakeTTY) ReadPassword(prompt string) ([]byte, error) {
	f.prompts = append(f.prompts, prompt)
	if len(f.answers) == 0 {
		return nil, errors.New("no more input")
	}
	a := f.answers[0]
	f.answers = f.answers[1:]
	return append([]byte(nil), a...), nil
}

func noEnv(string) string { return "" }

func TestFileBeatsEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(p, []byte("from file\r\n"), 0o600)
	s := Source{File: p, Getenv: func(string) string { return "from env" }, Terminal: &fakeTTY{}}
	got, err := s.Get(`identity "a"`)
	if err != nil || string(got) != "from file" {
		t.Fatalf("got %q %v", got, err)
	}
	got, err = s.New(`identity "a"`)
	if err != nil || string(got) != "from file" {
		t.Fatalf("new: got %q %v", got, err)
	}
	if s.Interactive() {
		t.Error("Interactive with a file")
	}
}

func TestEnv(t *testing.T) {
	tt := &fakeTTY{}
	s := Source{Getenv: func(k string) string {
		if k == EnvVar {
			return "env pass\n"
		}
		return ""
	}, Terminal: tt}
	got, err := s.Get("x")
	if err != nil || string(got) != "env pass\n" {
		t.Fatalf("got %q %v (env value is used verbatim)", got, err)
	}
	if len(tt.prompts) != 0 {
		t.Error("prompted although the env var was set")
	}
}

func TestFileTrimsOneNewlineOnly(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{"a\n": "a", "a\n\n": "a\n", "a": "a", " a \r\n": " a "} {
		p := filepath.Join(dir, "pw")
		os.WriteFile(p, []byte(body), 0o600)
		got, err := ReadFile(p)
		if err != nil || string(got) != want {
			t.Errorf("%q: got %q %v, want %q", body, got, err, want)
		}
	}
	p := filepath.Join(dir, "empty")
	os.WriteFile(p, []byte("\n"), 0o600)
	if _, err := ReadFile(p); !errors.Is(err, ErrEmpty) || !strings.Contains(err.Error(), p) {
		t.Errorf("empty: %v", err)
	}
	os.WriteFile(p, []byte(strings.Repeat("x", MaxLen+1)), 0o600)
	if _, err := ReadFile(p); err == nil {
		t.Error("oversize accepted")
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestPromptTwiceForNew(t *testing.T) {
	tt := &fakeTTY{answers: [][]byte{[]byte("pw"), []byte("pw")}}
	s := Source{Getenv: noEnv, Terminal: tt}
	got, err := s.New(`identity "alice"`)
	if err != nil || string(got) != "pw" || len(tt.prompts) != 2 {
		t.Fatalf("got %q %v prompts %q", got, err, tt.prompts)
	}
	if !strings.Contains(tt.prompts[0], `identity "alice"`) {
		t.Errorf("prompt %q does not name the identity", tt.prompts[0])
	}

	tt = &fakeTTY{answers: [][]byte{[]byte("pw"), []byte("pW")}}
	_, err = Source{Getenv: noEnv, Terminal: tt}.New("x")
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("mismatch: %v", err)
	}
	tt = &fakeTTY{answers: [][]byte{{}}}
	_, err = Source{Getenv: noEnv, Terminal: tt}.New("x")
	if !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty: %v", err)
	}
}

func TestPromptOnceForGet(t *testing.T) {
	tt := &fakeTTY{answers: [][]byte{[]byte("pw")}}
	got, err := Source{Getenv: noEnv, Terminal: tt}.Get("x")
	if err != nil || string(got) != "pw" || len(tt.prompts) != 1 {
		t.Fatalf("got %q %v prompts %q", got, err, tt.prompts)
	}
}

// Without a controlling terminal the error is immediate and says what to do.
func TestNoTerminal(t *testing.T) {
	saved := openTerminal
	defer func() { openTerminal = saved }()
	openTerminal = func() (Terminal, error) { return nil, errors.New("open /dev/tty: no such device or address") }
	s := Source{Getenv: noEnv}
	for _, f := range []func(string) ([]byte, error){s.Get, s.New} {
		_, err := f(`identity "bob"`)
		if !errors.Is(err, ErrNoPassphrase) || !strings.Contains(err.Error(), EnvVar) || !strings.Contains(err.Error(), "--passphrase-file") || !strings.Contains(err.Error(), `identity "bob"`) {
			t.Fatalf("err = %v", err)
		}
	}
	if !s.Interactive() {
		t.Error("Interactive false without file and env")
	}
}
