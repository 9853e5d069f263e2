// Command evilplugin is a malicious storage plugin for the reliability tests:
// an honest filesystem store (plugins/fs) until its control file says
// otherwise, then a backend that lies about what it stores.
//
// Config: "path" (the data directory) and "control" (a file the plugin reads
// on every call). The control file holds one line, "<mode> <targets>":
//
//	honest                   serve the truth
//	corrupt   <targets>      flip one byte of each value read
//	truncate  <targets>      serve the first half of each value read
//	oversize  <targets>      serve MaxValueSize+1 bytes (the host's reply check refuses it)
//	huge      <targets>      try to serve 40 MiB (above the gRPC message limit)
//	stale     <targets>      serve the previous version of the key (also of a deleted key);
//	                         staleN (N=2..5) serves the version N writes back
//	swap      <targets>      serve the value of another key of the same kind
//	hang      <targets>      never answer (ignores the call's context)
//	crash     <targets>      exit in the middle of the call
//
// targets is a comma-separated list of record kinds: record (v/<id>/r/...),
// head (v/<id>/head), slot (v/<id>/s/...), headlog (v/<id>/h/...), index
// (m/...), or all. Puts and deletes always reach the store honestly; the
// plugin keeps the last 8 versions of every key it saw written or read, to
// replay them.
package main

import (
	"context"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
)

type evil struct {
	*fs.Store
	control string

	mu   sync.Mutex
	hist map[string][][]byte
}

func kindOf(key string) string {
	switch {
	case strings.HasPrefix(key, "m/"):
		return "index"
	case strings.HasSuffix(key, "/head"):
		return "head"
	case strings.Contains(key, "/r/"):
		return "record"
	case strings.Contains(key, "/s/"):
		return "slot"
	case strings.Contains(key, "/h/"):
		return "headlog"
	}
	return "other"
}

// mode returns the active mode for key ("honest" when it does not apply).
func (e *evil) mode(key string) string {
	b, err := os.ReadFile(e.control)
	if err != nil {
		return "honest"
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return "honest"
	}
	for _, t := range strings.Split(f[1], ",") {
		if t == "all" || t == kindOf(key) {
			return f[0]
		}
	}
	return "honest"
}

func (e *evil) remember(key string, v []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.hist[key]
	if n := len(h); n > 0 && string(h[n-1]) == string(v) {
		return
	}
	h = append(h, append([]byte(nil), v...))
	if len(h) > 8 {
		h = h[len(h)-8:]
	}
	e.hist[key] = h
}

// previous returns the version n steps before the current one (cur; nil
// when the key is gone), clamped to the oldest version remembered.
func (e *evil) previous(key string, cur []byte, n int) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.hist[key]
	if len(h) > 0 && cur != nil && string(h[len(h)-1]) == string(cur) {
		h = h[:len(h)-1]
	}
	if len(h) == 0 {
		return nil
	}
	i := max(len(h)-n, 0)
	return append([]byte(nil), h[i]...)
}

// other returns the value of another key of the same kind and directory.
func (e *evil) other(ctx context.Context, key string) []byte {
	dir := key[:strings.LastIndex(key, "/")+1]
	page, err := e.Store.List(ctx, sdk.ListOptions{Prefix: dir, Limit: sdk.DefaultListLimit, WithValues: true})
	if err != nil {
		return nil
	}
	keys := make([]string, 0, len(page.Entries))
	vals := map[string][]byte{}
	for _, en := range page.Entries {
		if en.Key != key && kindOf(en.Key) == kindOf(key) {
			keys = append(keys, en.Key)
			vals[en.Key] = en.Value
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return nil
	}
	return vals[keys[0]]
}

// lie transforms an honest value (nil: the key does not exist) per mode.
func (e *evil) lie(ctx context.Context, mode, key string, v []byte) []byte {
	switch mode {
	case "corrupt":
		if len(v) > 0 {
			v = append([]byte(nil), v...)
			v[len(v)/2] ^= 0x40
		}
	case "truncate":
		if v != nil {
			v = v[:len(v)/2]
		}
	case "oversize":
		v = make([]byte, sdk.MaxValueSize+1)
	case "huge":
		v = make([]byte, 40<<20)
	case "stale", "stale2", "stale3", "stale4", "stale5":
		n := 1
		if len(mode) > 5 {
			n = int(mode[5] - '0')
		}
		if p := e.previous(key, v, n); p != nil {
			v = p
		}
	case "swap":
		if o := e.other(ctx, key); o != nil {
			v = o
		}
	case "hang":
		select {} // never answers, whatever the context says
	case "crash":
		os.Exit(3)
	}
	return v
}

func (e *evil) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	v, ver, err := e.Store.Get(ctx, key)
	if err == nil {
		e.remember(key, v)
	}
	mode := e.mode(key)
	if mode == "honest" {
		return v, ver, err
	}
	if err != nil && !(strings.HasPrefix(mode, "stale") && sdk.Kind(err) == sdk.ErrNotFound) {
		return v, ver, err
	}
	lied := e.lie(ctx, mode, key, v)
	if lied == nil {
		return v, ver, err
	}
	if ver == "" {
		ver = "0000000000000000000000000000dead"
	}
	return lied, ver, nil
}

func (e *evil) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	if m := e.mode(key); m == "hang" || m == "crash" {
		e.lie(ctx, m, key, nil)
	}
	ver, err := e.Store.Put(ctx, key, value, cond)
	if err == nil {
		e.remember(key, value)
	}
	return ver, err
}

func (e *evil) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	page, err := e.Store.List(ctx, opts)
	if err != nil || !opts.WithValues {
		return page, err
	}
	for i, en := range page.Entries {
		e.remember(en.Key, en.Value)
		if m := e.mode(en.Key); m != "honest" {
			page.Entries[i].Value = e.lie(ctx, m, en.Key, en.Value)
		}
	}
	return page, nil
}

func factory(ctx context.Context, config map[string]string) (sdk.Store, error) {
	control := config["control"]
	if control == "" {
		return nil, sdk.Errorf(sdk.ErrInvalidArgument, "config field %q: required", "control")
	}
	st, err := fs.New(ctx, map[string]string{"path": config["path"]})
	if err != nil {
		return nil, err
	}
	return &evil{Store: st.(*fs.Store), control: control, hist: map[string][][]byte{}}, nil
}

func main() { sdk.Serve(factory, nil) }

// WriteBatch keeps the fs store's native batch (and its atomic guard) but
// runs each write through the same hooks as Put: a hanging or crashing key
// hangs or crashes the batch, and every write that lands is remembered for
// the stale modes.
func (e *evil) WriteBatch(ctx context.Context, guard *sdk.Guard, writes []sdk.Write) ([]sdk.WriteResult, error) {
	for _, w := range writes {
		if m := e.mode(w.Key); m == "hang" || m == "crash" {
			e.lie(ctx, m, w.Key, nil)
		}
	}
	res, err := e.Store.WriteBatch(ctx, guard, writes)
	if err != nil {
		return res, err
	}
	for i, w := range writes {
		if w.Kind == sdk.WritePut && res[i].Err == nil {
			e.remember(w.Key, w.Value)
		}
	}
	return res, nil
}
