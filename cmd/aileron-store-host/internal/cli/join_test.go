package cli

import (
	"strings"
	"testing"
	"time"
)

type fakeHeadTime struct{ t time.Time }

func (f fakeHeadTime) HeadTime() time.Time { return f.t }

func TestHeadAge(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		v    any
		want string
	}{
		{fakeHeadTime{now.Add(-90 * time.Second)}, "1m30s (signed 2026-11-29T11:58:30Z)"},
		{fakeHeadTime{}, "unknown (the head carries no signed time: format v1"},
		{fakeHeadTime{now.Add(time.Hour)}, "signed 1h0m0s in the future"},
		{struct{}{}, "unknown (this build does not read head times)"},
	} {
		if got := headAge(c.v, now); !strings.HasPrefix(got, c.want) {
			t.Errorf("headAge = %q, want %q...", got, c.want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"team": "team", "my team": "'my team'", "it's": `'it'\''s'`, "": "''"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}
