// Package progress reports the progress of long work (revoke and rotate
// sweeps, migrations): a bar redrawn in place when stderr is a terminal,
// otherwise structured log lines at most once per interval plus one at the
// end.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Reporter shows progress. Its methods are safe for concurrent use. A nil
// *Reporter reports nothing.
type Reporter struct {
	mu       sync.Mutex
	w        io.Writer    // the terminal, when bar is true
	bar      bool         // draw a bar on w
	log      hclog.Logger // structured lines otherwise
	interval time.Duration
	now      func() time.Time

	op          string
	done, total int
	last        time.Time // last line logged
	lastLogged  int       // done at the last line logged
	started     time.Time
	drawn       bool
	width       int
}

// Options configure a Reporter.
type Options struct {
	// Terminal, when true, draws a bar on W.
	Terminal bool
	W        io.Writer
	// Logger receives structured progress lines when Terminal is false.
	Logger hclog.Logger
	// Interval between structured lines; 0 means 2s.
	Interval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns a Reporter.
func New(o Options) *Reporter {
	r := &Reporter{w: o.W, bar: o.Terminal && o.W != nil, log: o.Logger, interval: o.Interval, now: o.Now, width: 30}
	if r.interval <= 0 {
		r.interval = 2 * time.Second
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = hclog.NewNullLogger()
	}
	return r
}

// Update records that done of total units of op are complete. total may be
// 0 when unknown.
func (r *Reporter) Update(op string, done, total int) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if op != r.op {
		r.finishLocked()
		r.op = op
		r.started = now
		r.last = time.Time{}
		r.lastLogged = -1
	}
	r.done, r.total = done, total
	if r.bar {
		r.drawLocked(now)
		return
	}
	if r.last.IsZero() || now.Sub(r.last) >= r.interval || (total > 0 && done >= total && r.lastLogged != done) {
		r.logLocked(now)
	}
}

// Finish ends the current operation: the bar is completed with a newline,
// or a final structured line is written if the last one is stale.
func (r *Reporter) Finish() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finishLocked()
	r.op = ""
}

func (r *Reporter) finishLocked() {
	if r.op == "" {
		return
	}
	if r.bar {
		if r.drawn {
			r.drawLocked(r.now())
			fmt.Fprint(r.w, "\n")
			r.drawn = false
		}
		return
	}
	if r.lastLogged != r.done {
		r.logLocked(r.now())
	}
}

func (r *Reporter) logLocked(now time.Time) {
	args := []any{"op", r.op, "done", r.done}
	if r.total > 0 {
		args = append(args, "total", r.total, "percent", r.done*100/r.total)
	}
	args = append(args, "elapsed", now.Sub(r.started).Round(time.Millisecond).String())
	r.log.Info("progress", args...)
	r.last = now
	r.lastLogged = r.done
}

func (r *Reporter) drawLocked(now time.Time) {
	var line string
	elapsed := now.Sub(r.started).Round(time.Second)
	if r.total > 0 {
		d := r.done
		if d > r.total {
			d = r.total
		}
		fill := d * r.width / r.total
		line = fmt.Sprintf("%s [%s%s] %d/%d %3d%% %s", r.op, strings.Repeat("=", fill), strings.Repeat(" ", r.width-fill), r.done, r.total, d*100/r.total, elapsed)
	} else {
		line = fmt.Sprintf("%s %d done %s", r.op, r.done, elapsed)
	}
	fmt.Fprintf(r.w, "\r\x1b[K%s", line)
	r.drawn = true
}
