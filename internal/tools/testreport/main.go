// Command testreport reads `go test -json` output on stdin, prints the
// output of failed tests and a closing summary line, and exits non-zero when
// a test failed or, with -require-no-skip, when any test was skipped.
//
// A test that printed a "KNOWN GAP" line (a conformance check the backend or
// its emulator cannot enforce, see package conformance) is listed with its
// reason and counted as a known gap, never as passed.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	requireNoSkip := flag.Bool("require-no-skip", false, "fail when any test or package was skipped")
	flag.Parse()
	os.Exit(run(os.Stdin, os.Stdout, *requireNoSkip))
}

func run(in io.Reader, out io.Writer, requireNoSkip bool) int {
	output := map[string][]string{}
	var passed, failed, skipped, gaps int
	var failures, skips, gapList []string
	pkgTime := map[string]float64{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintln(out, sc.Text()) // build errors arrive as plain text
			continue
		}
		id := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			output[id] = append(output[id], e.Output)
		case "pass":
			if g := gapReason(output[id]); e.Test != "" && g != "" {
				gaps++
				gapList = append(gapList, id+": "+g)
			} else if e.Test != "" {
				passed++
			} else {
				pkgTime[e.Package] = e.Elapsed
			}
			delete(output, id)
		case "fail":
			if e.Test != "" {
				failed++
			}
			failures = append(failures, id)
		case "skip":
			if e.Test != "" {
				skipped++
				skips = append(skips, id+": "+lastLine(output[id]))
			}
			delete(output, id)
		}
	}
	for _, id := range failures {
		fmt.Fprintf(out, "--- FAIL %s\n%s", id, strings.Join(output[id], ""))
	}
	var pkgs []string
	for p := range pkgTime {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		fmt.Fprintf(out, "ok  %-70s %6.1fs\n", p, pkgTime[p])
	}
	for _, s := range skips {
		fmt.Fprintf(out, "SKIPPED %s\n", s)
	}
	for _, g := range gapList {
		fmt.Fprintf(out, "KNOWN GAP %s\n", g)
	}
	if gaps > 0 {
		fmt.Fprintf(out, "%d known gaps (checks a backend or emulator cannot enforce; not counted as passed)\n", gaps)
	}
	fmt.Fprintf(out, "%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || len(failures) > 0 {
		return 1
	}
	if requireNoSkip && skipped > 0 {
		fmt.Fprintln(out, "skipped tests are failures here (AILERON_REQUIRE_ALL_BACKENDS=1): every backend must run")
		return 1
	}
	return 0
}

// gapReason returns the text after "KNOWN GAP " in a test's output, or "".
func gapReason(lines []string) string {
	for _, l := range lines {
		if _, after, ok := strings.Cut(l, "KNOWN GAP "); ok {
			return strings.TrimSpace(after)
		}
	}
	return ""
}

func lastLine(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "---") {
			return l
		}
	}
	return ""
}
