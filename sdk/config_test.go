package sdk_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
)

func TestConfigReaderReadsEveryType(t *testing.T) {
	r := sdk.ReadConfig(map[string]string{
		"name": "x", "n": "7", "on": "true", "wait": "2s", "mode": "b", "prefix": "team/a/", "empty": "",
	}, "name", "n", "on", "wait", "mode", "prefix", "empty", "absent")
	if got := r.Required("name"); got != "x" {
		t.Errorf("Required = %q", got)
	}
	if got := r.Int("n", 1, 0, 10); got != 7 {
		t.Errorf("Int = %d", got)
	}
	if got := r.Bool("on", false); !got {
		t.Errorf("Bool = %v", got)
	}
	if got := r.Duration("wait", time.Second, time.Millisecond, time.Minute); got != 2*time.Second {
		t.Errorf("Duration = %v", got)
	}
	if got := r.Enum("mode", "a", "a", "b"); got != "b" {
		t.Errorf("Enum = %q", got)
	}
	if got := r.KeyPrefix("prefix", 64); got != "team/a" {
		t.Errorf("KeyPrefix = %q", got)
	}
	if got := r.String("empty", "def"); got != "def" {
		t.Errorf("an empty field is absent: String = %q, want the default", got)
	}
	if got := r.Int("absent", 3, 0, 10); got != 3 {
		t.Errorf("absent Int = %d, want the default", got)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigReaderFirstErrorNamesItsField(t *testing.T) {
	cases := []struct {
		name  string
		m     map[string]string
		read  func(r *sdk.ConfigReader)
		field string
	}{
		{"unknown first, in byte order", map[string]string{"zz": "1", "bb": "1", "n": "x"}, func(r *sdk.ConfigReader) { r.Int("n", 0, 0, 1) }, "bb"},
		{"required", map[string]string{}, func(r *sdk.ConfigReader) { r.Required("n") }, "n"},
		{"required empty", map[string]string{"n": ""}, func(r *sdk.ConfigReader) { r.Required("n") }, "n"},
		{"int not a number", map[string]string{"n": "3x"}, func(r *sdk.ConfigReader) { r.Int("n", 0, 0, 9) }, "n"},
		{"int below", map[string]string{"n": "-1"}, func(r *sdk.ConfigReader) { r.Int("n", 0, 0, 9) }, "n"},
		{"int above", map[string]string{"n": "10"}, func(r *sdk.ConfigReader) { r.Int("n", 0, 0, 9) }, "n"},
		{"bool", map[string]string{"n": "yes"}, func(r *sdk.ConfigReader) { r.Bool("n", false) }, "n"},
		{"duration not one", map[string]string{"n": "ten"}, func(r *sdk.ConfigReader) { r.Duration("n", 0, time.Second, 0) }, "n"},
		{"duration below", map[string]string{"n": "1ms"}, func(r *sdk.ConfigReader) { r.Duration("n", 0, time.Second, 0) }, "n"},
		{"duration above", map[string]string{"n": "2h"}, func(r *sdk.ConfigReader) { r.Duration("n", 0, time.Second, time.Hour) }, "n"},
		{"enum", map[string]string{"n": "c"}, func(r *sdk.ConfigReader) { r.Enum("n", "a", "a", "b") }, "n"},
		{"prefix charset", map[string]string{"n": "Team"}, func(r *sdk.ConfigReader) { r.KeyPrefix("n", 64) }, "n"},
		{"prefix doubled slash", map[string]string{"n": "a//b"}, func(r *sdk.ConfigReader) { r.KeyPrefix("n", 64) }, "n"},
		{"prefix too long", map[string]string{"n": "abcdef"}, func(r *sdk.ConfigReader) { r.KeyPrefix("n", 5) }, "n"},
		{"first of two", map[string]string{"n": "x", "m": "y"}, func(r *sdk.ConfigReader) { r.Bool("m", false); r.Int("n", 0, 0, 1) }, "m"},
		{"fail", map[string]string{"n": "x"}, func(r *sdk.ConfigReader) { r.Fail("n", "bad") }, "n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var fields []string
			for k := range tc.m {
				if k != "zz" && k != "bb" {
					fields = append(fields, k)
				}
			}
			fields = append(fields, "n")
			r := sdk.ReadConfig(tc.m, fields...)
			tc.read(r)
			err := r.Err()
			if !errors.Is(err, sdk.ErrInvalidArgument) || sdk.Kind(err) != sdk.ErrInvalidArgument {
				t.Fatalf("Err() = %v, want exactly ErrInvalidArgument", err)
			}
			if want := `config field "` + tc.field + `"`; !strings.Contains(err.Error(), want) {
				t.Fatalf("Err() = %q, want it to name %s", err, want)
			}
		})
	}
}

// FuzzConfigReader: any value of any field is read or refused with exactly
// ErrInvalidArgument naming that field; a value read is within its bounds.
func FuzzConfigReader(f *testing.F) {
	for _, s := range []string{"", "7", "-1", "true", "2s", "a", "team/a/", "Team", "9999999999999999999999", "1e3", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for name, read := range map[string]func(r *sdk.ConfigReader) bool{
			"int":  func(r *sdk.ConfigReader) bool { n := r.Int("f", 5, 0, 9); return n >= 0 && n <= 9 },
			"bool": func(r *sdk.ConfigReader) bool { r.Bool("f", false); return true },
			"duration": func(r *sdk.ConfigReader) bool {
				d := r.Duration("f", time.Second, time.Second, time.Hour)
				return d >= time.Second && d <= time.Hour
			},
			"enum": func(r *sdk.ConfigReader) bool { e := r.Enum("f", "a", "a", "b"); return e == "a" || e == "b" },
			"prefix": func(r *sdk.ConfigReader) bool {
				p := r.KeyPrefix("f", 64)
				return p == "" || sdk.ValidateKey(p) == nil && len(p) <= 64
			},
			"required": func(r *sdk.ConfigReader) bool { return r.Required("f") == v },
		} {
			r := sdk.ReadConfig(map[string]string{"f": v}, "f")
			ok := read(r)
			if err := r.Err(); err != nil {
				if sdk.Kind(err) != sdk.ErrInvalidArgument || !strings.Contains(err.Error(), `config field "f"`) {
					t.Fatalf("%s(%q): %v, want ErrInvalidArgument naming the field", name, v, err)
				}
				continue
			}
			if !ok {
				t.Fatalf("%s(%q) accepted a value outside its bounds", name, v)
			}
		}
	})
}
