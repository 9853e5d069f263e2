package soak

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Op kinds written to a worker's log.
const (
	OpPut      = "put"
	OpGet      = "get"       // a read of the worker's own credential
	OpGetOther = "get-other" // a read of another worker's credential
	OpDelete   = "delete"
	OpList     = "list"
	OpGrant    = "grant"
	OpRevoke   = "revoke"
	// Events (not operations on the vault).
	EvKillPlugin   = "kill-plugin"   // the worker SIGKILLed its own plugin
	EvSweepStarted = "sweep-started" // the slowed revoke's sweep is under way
	EvPending      = "pending"       // a resume worker found a rotation in flight (Val "true"/"false")
	EvResume       = "resume"        // a resume worker completed Resume
	EvDone         = "done"          // the worker finished normally
)

// Phases of an operation. An operation with a "begin" line but no "ok" line
// was not acknowledged: it may or may not have taken effect.
const (
	PhaseBegin = "begin"
	PhaseOK    = "ok"
	PhaseFail  = "fail"
)

// Entry is one line of a worker's log (JSON). Values are test strings, never
// secrets.
type Entry struct {
	Worker int      `json:"w"`
	Seq    int      `json:"seq"`
	Op     string   `json:"op"`
	Phase  string   `json:"ph,omitempty"`
	Name   string   `json:"name,omitempty"` // credential or member name
	Val    string   `json:"val,omitempty"`  // value written, or value read
	Found  bool     `json:"found,omitempty"`
	Names  []string `json:"names,omitempty"` // list result
	Err    string   `json:"err,omitempty"`
	Class  string   `json:"class,omitempty"` // classification of Err (see classify)
	Time   int64    `json:"t"`
}

// Log appends entries to a file, one JSON line each, fsynced before Write
// returns: an acknowledged operation is on disk before the next one starts,
// so a SIGKILL of the worker loses nothing it acknowledged.
type Log struct {
	mu sync.Mutex
	f  *os.File
	w  int
}

// CreateLog creates (truncates) the log at path for worker w.
func CreateLog(path string, w int) (*Log, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &Log{f: f, w: w}, nil
}

// Write appends e (stamping worker and time) and syncs the file.
func (l *Log) Write(e Entry) error {
	e.Worker = l.w
	e.Time = time.Now().UnixNano()
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return l.f.Sync()
}

// Close closes the file.
func (l *Log) Close() error { return l.f.Close() }

// ReadLog reads a worker's log. A torn last line (the worker was killed while
// writing it) is ignored: its operation is then unacknowledged.
func ReadLog(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	var torn error
	for sc.Scan() {
		line++
		if torn != nil {
			return nil, torn // a bad line followed by more lines is corruption
		}
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			torn = fmt.Errorf("%s:%d: %v", path, line, err)
			continue
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
