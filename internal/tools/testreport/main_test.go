package main

import (
	"bytes"
	"strings"
	"testing"
)

const stream = `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"ok\n"}
{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0.1}
{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: no server\n"}
{"Action":"skip","Package":"p","Test":"TestB","Elapsed":0}
{"Action":"pass","Package":"p","Elapsed":0.2}
`

func TestSkipFailsWhenRequired(t *testing.T) {
	var out bytes.Buffer
	if code := run(strings.NewReader(stream), &out, true); code != 1 {
		t.Errorf("exit code %d with a skip and -require-no-skip, want 1", code)
	}
	if !strings.Contains(out.String(), "1 passed, 0 failed, 1 skipped") || !strings.Contains(out.String(), "SKIPPED p TestB: b_test.go:9: no server") {
		t.Errorf("report:\n%s", out.String())
	}
	out.Reset()
	if code := run(strings.NewReader(stream), &out, false); code != 0 {
		t.Errorf("exit code %d with a skip allowed, want 0", code)
	}
}

func TestFailurePrintsOutput(t *testing.T) {
	s := `{"Action":"output","Package":"p","Test":"TestC","Output":"boom\n"}
{"Action":"fail","Package":"p","Test":"TestC","Elapsed":0}
{"Action":"fail","Package":"p","Elapsed":0}
`
	var out bytes.Buffer
	if code := run(strings.NewReader(s), &out, false); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(out.String(), "--- FAIL p TestC\nboom") || !strings.Contains(out.String(), "0 passed, 1 failed, 0 skipped") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestKnownGapIsNotAPass(t *testing.T) {
	s := `{"Action":"output","Package":"p","Test":"TestC/cas/x","Output":"    run.go:34: KNOWN GAP cas/x: emulator ignores it\n"}
{"Action":"pass","Package":"p","Test":"TestC/cas/x","Elapsed":0}
{"Action":"output","Package":"p","Test":"TestC/cas/y","Output":"ok\n"}
{"Action":"pass","Package":"p","Test":"TestC/cas/y","Elapsed":0}
`
	var out bytes.Buffer
	if code := run(strings.NewReader(s), &out, true); code != 0 {
		t.Errorf("exit code %d: a gap is not a failure", code)
	}
	for _, want := range []string{"KNOWN GAP p TestC/cas/x: cas/x: emulator ignores it", "1 known gaps", "1 passed, 0 failed, 0 skipped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
