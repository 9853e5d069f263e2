// Command testplugin is a storage plugin for the SDK's own tests: an
// in-memory store with special keys that misbehave on purpose.
//
//	Get "err/<kind>"        returns an error of that kind (not-found, conflict,
//	                        invalid-argument, unavailable, permission-denied,
//	                        plain)
//	Get "block/<name>"      blocks until the call's context ends, then records
//	                        "seen/<name>" = the context error and whether
//	                        a deadline was set, and returns the error
//	List prefix "disorder/" returns entries out of order (a broken reply)
//	Get "env/<NAME>"        returns the environment variable NAME, or not-found
//	Configure {"fail": F}   refuses the config naming field F
//	Configure {"log": M}    logs M at info level to stderr (for the host's log)
//	Configure {"report": N} reports N entries r00..r(N-1) in Capabilities().Report,
//	                        each of 600 bytes ("x" repeated), plus "mode": "test"
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

type store struct {
	*memstore.Store
	report map[string]string
}

func (s store) Capabilities() sdk.Capabilities {
	caps := s.Store.Capabilities()
	caps.Report = s.report
	return caps
}

var kinds = map[string]error{
	"not-found":         sdk.ErrNotFound,
	"conflict":          sdk.ErrConflict,
	"invalid-argument":  sdk.ErrInvalidArgument,
	"unavailable":       sdk.ErrUnavailable,
	"permission-denied": sdk.ErrPermissionDenied,
}

func (s store) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	if k, ok := strings.CutPrefix(key, "err/"); ok {
		if kind, ok := kinds[k]; ok {
			return nil, "", sdk.Errorf(kind, "test error for key %q", key)
		}
		return nil, "", errors.New("a plain error for key " + key)
	}
	if name, ok := strings.CutPrefix(key, "env/"); ok {
		if v, ok := os.LookupEnv(strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); ok {
			return []byte(v), "1", nil
		}
		return nil, "", sdk.Errorf(sdk.ErrNotFound, "environment variable for key %q", key)
	}
	if name, ok := strings.CutPrefix(key, "block/"); ok {
		<-ctx.Done()
		_, hasDeadline := ctx.Deadline()
		seen := fmt.Sprintf("%v; deadline set: %v", ctx.Err(), hasDeadline)
		s.Store.Put(context.Background(), "seen/"+name, []byte(seen), sdk.None)
		return nil, "", ctx.Err()
	}
	return s.Store.Get(ctx, key)
}

func (s store) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	if opts.Prefix == "disorder/" {
		return sdk.Page{Entries: []sdk.Entry{{Key: "disorder/b", Version: "1"}, {Key: "disorder/a", Version: "2"}}}, nil
	}
	return s.Store.List(ctx, opts)
}

func factory(_ context.Context, config map[string]string) (sdk.Store, error) {
	if f, ok := config["fail"]; ok {
		return nil, sdk.Errorf(sdk.ErrInvalidArgument, "config field %q: refused by the test plugin", f)
	}
	if m, ok := config["log"]; ok {
		logger.Info(m)
	}
	st := store{Store: memstore.New()}
	if n, ok := config["report"]; ok {
		var count int
		fmt.Sscan(n, &count)
		st.report = map[string]string{"mode": "test"}
		for i := 0; i < count; i++ {
			st.report[fmt.Sprintf("r%02d", i)] = strings.Repeat("x", 600)
		}
	}
	return st, nil
}

var logger = hclog.New(&hclog.LoggerOptions{Output: os.Stderr, JSONFormat: true, Level: hclog.Info})

func main() { sdk.Serve(factory, nil) }
