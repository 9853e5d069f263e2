package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/internal/pluginproc"
	"github.com/ALRubinger/aileron-store/sdk"
)

// Worker roles.
const (
	RoleSoak   = "soak"   // the bounded random mix of operations
	RoleResume = "resume" // unlock, report a pending rotation, Resume
)

// WorkerConfig is what a worker process is given (as a JSON file).
type WorkerConfig struct {
	Role   string `json:"role"`
	Index  int    `json:"index"`
	Seed   uint64 `json:"seed"`
	Plugin string `json:"plugin"` // plugin binary
	// PluginConfig is the plugin's configuration (may hold test credentials
	// of a throwaway server; the file is 0600 in a private temp dir).
	PluginConfig map[string]string `json:"plugin_config"`
	StateDir     string            `json:"state_dir"`
	Vault        string            `json:"vault"`
	Identity     string            `json:"identity"` // unsealed identity file of this worker (an admin)
	// Own are the credential names this worker writes; Others are the names
	// of the other workers, which it only reads.
	Own    []string `json:"own"`
	Others []string `json:"others"`
	// Guests are the members this worker grants and revokes: name -> unsealed
	// identity file.
	Guests   map[string]string `json:"guests"`
	Duration time.Duration     `json:"duration"`
	MaxOps   int               `json:"max_ops"`
	// PluginKills is how many times the worker SIGKILLs its own plugin, at
	// random moments of the run.
	PluginKills int `json:"plugin_kills"`
	// SlowRevokeAfter, when > 0, makes the worker run one slowed revoke
	// after that much time: the store wrapper delays every record rewrite,
	// and the worker logs EvSweepStarted when the sweep begins, for the
	// parent to SIGKILL it mid-sweep.
	SlowRevokeAfter time.Duration `json:"slow_revoke_after"`
	SlowDelay       time.Duration `json:"slow_delay"`
	Log             string        `json:"log"`
}

// LoadWorkerConfig reads a worker configuration file.
func LoadWorkerConfig(path string) (*WorkerConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c WorkerConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("worker config %s: %v", path, err)
	}
	return &c, nil
}

// WriteWorkerConfig writes c to path (0600).
func WriteWorkerConfig(path string, c *WorkerConfig) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// LoadIdentity reads an unsealed identity file.
func LoadIdentity(path string) (*core.Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return core.ParseIdentity(b, func() ([]byte, error) {
		return nil, fmt.Errorf("identity file %s is sealed; the soak uses unsealed test identities", path)
	})
}

// slowStore delays record rewrites (conditional puts under the record
// prefix: format 2's sweep moves records with if-absent puts) while armed,
// and reports the first one: a sweep is under way.
type slowStore struct {
	sdk.Store
	armed   atomic.Bool
	delay   time.Duration
	started func()
	once    sync.Once
}

func (s *slowStore) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	if s.armed.Load() && cond.Mode() != sdk.CondNone && strings.Contains(key, "/r/") {
		s.once.Do(s.started)
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return s.Store.Put(ctx, key, value, cond)
}

// Classify names the class of an operation's error for the log and the
// checker: "tampered" and "rollback" are invariant violations on an honest
// backend; "absent" means the credential or member did not exist; the rest
// are faults the soak injects or tolerates (a plugin killed mid-call, a
// compare-and-swap race lost too many times).
func Classify(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, core.ErrTampered):
		return "tampered"
	case errors.Is(err, core.ErrRollback):
		return "rollback"
	case errors.Is(err, core.ErrCredentialNotFound), errors.Is(err, core.ErrMemberNotFound):
		return "absent"
	case errors.Is(err, core.ErrMemberExists):
		return "exists"
	case errors.Is(err, core.ErrNotMember), errors.Is(err, core.ErrNotAdmin):
		return "not-member"
	case errors.Is(err, sdk.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, sdk.ErrConflict):
		return "conflict"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "deadline"
	}
	return "other"
}

// RunWorker runs one worker process's job and returns when it is done (or
// its bounds are reached). Every operation is logged before it starts
// (begin) and when it returns (ok or fail).
func RunWorker(ctx context.Context, cfg *WorkerConfig) error {
	lg, err := CreateLog(cfg.Log, cfg.Index)
	if err != nil {
		return err
	}
	defer lg.Close()
	id, err := LoadIdentity(cfg.Identity)
	if err != nil {
		return err
	}
	openCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	client, err := sdk.Open(openCtx, cfg.Plugin, cfg.PluginConfig, &sdk.ClientOptions{Name: fmt.Sprintf("worker%d-plugin", cfg.Index)})
	cancel()
	if err != nil {
		return fmt.Errorf("worker %d: opening plugin: %w", cfg.Index, err)
	}
	defer client.Close()
	slow := &slowStore{Store: client, delay: cfg.SlowDelay}
	var slowFired atomic.Bool
	slow.started = func() { slowFired.Store(true); lg.Write(Entry{Op: EvSweepStarted}) }
	// Every host of the run agrees on a 1 s write timeout, so that a revoke
	// over a plugin without an atomic guard waits 1.5 s, not 15 s, before
	// its final pass (the protocol holds for any timeout all hosts share).
	opts := &core.Options{StateDir: cfg.StateDir, WriteTimeout: time.Second}
	if cfg.SlowRevokeAfter > 0 {
		opts.Concurrency = 2
	}
	eng, err := core.New(slow, opts)
	if err != nil {
		return err
	}
	var v *core.Vault
	for try := 0; ; try++ { // the plugin may be killed by nobody yet; retry transient errors a few times
		uctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		v, err = eng.Unlock(uctx, cfg.Vault, id)
		cancel()
		if err == nil {
			break
		}
		if try >= 5 || Classify(err) == "tampered" || Classify(err) == "rollback" {
			return fmt.Errorf("worker %d: unlock: %w", cfg.Index, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	switch cfg.Role {
	case RoleResume:
		return runResume(ctx, lg, v)
	case RoleSoak:
	default:
		return fmt.Errorf("unknown worker role %q", cfg.Role)
	}

	guests := map[string]*core.Recipient{}
	var guestNames []string
	for name, path := range cfg.Guests {
		g, err := LoadIdentity(path)
		if err != nil {
			return err
		}
		guests[name] = g.Recipient()
		guestNames = append(guestNames, name)
		g.Wipe()
	}
	slices.Sort(guestNames)
	member := map[string]bool{} // this worker's belief, only to pick grant vs revoke

	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.Index)))
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	// Plugin kills at random moments in the middle 80% of the run.
	var killWG sync.WaitGroup
	killCtx, stopKills := context.WithCancel(ctx)
	defer func() { stopKills(); killWG.Wait() }()
	if cfg.PluginKills > 0 {
		at := make([]time.Duration, cfg.PluginKills)
		for i := range at {
			at[i] = cfg.Duration/10 + time.Duration(rng.Int64N(int64(cfg.Duration*8/10)))
		}
		slices.Sort(at)
		killWG.Add(1)
		go func() {
			defer killWG.Done()
			for _, d := range at {
				select {
				case <-killCtx.Done():
					return
				case <-time.After(time.Until(start.Add(d))):
				}
				// A plugin killed a moment ago restarts on the worker's
				// next call: wait for it, so every kill lands.
				pid := pluginproc.PID(client)
				for pid == 0 {
					select {
					case <-killCtx.Done():
						return
					case <-time.After(20 * time.Millisecond):
					}
					pid = pluginproc.PID(client)
				}
				err := pluginproc.Kill(client)
				e := Entry{Op: EvKillPlugin, Val: fmt.Sprint(pid)}
				if err != nil {
					e.Err = err.Error()
				}
				lg.Write(e)
			}
		}()
	}

	seq := 0
	do := func(op, name, val string, f func(ctx context.Context) (Entry, error)) {
		seq++
		lg.Write(Entry{Seq: seq, Op: op, Phase: PhaseBegin, Name: name, Val: val})
		octx, cancel := context.WithTimeout(ctx, 60*time.Second)
		res, err := f(octx)
		cancel()
		res.Seq, res.Op, res.Name = seq, op, name
		if res.Val == "" && op == OpPut {
			res.Val = val
		}
		if err != nil {
			res.Phase, res.Err, res.Class = PhaseFail, err.Error(), Classify(err)
		} else {
			res.Phase = PhaseOK
		}
		lg.Write(res)
	}
	slowDone := cfg.SlowRevokeAfter <= 0
	slowTries := 0
	// The slowed revoke must get its tries even when the chaos of the run
	// (plugin kills, lost races) used up the time: the loop goes on past the
	// deadline, bounded, until it has run.
	grace := deadline.Add(time.Minute)
	for ops := 0; ctx.Err() == nil && (ops < cfg.MaxOps && time.Now().Before(deadline) || !slowDone && time.Now().Before(grace)); ops++ {
		if !slowDone && time.Since(start) >= cfg.SlowRevokeAfter {
			// Make sure a guest is a member, then revoke it slowly. A try
			// that fails before its sweep (a killed plugin, a lost race) is
			// repeated, a bounded number of times, until the sweep starts.
			g := guestNames[rng.IntN(len(guestNames))]
			if !member[g] {
				do(OpGrant, g, "", func(ctx context.Context) (Entry, error) {
					err := v.Grant(ctx, guests[g], g, core.RoleMember, &core.GrantOptions{AllowClassical: true})
					if errors.Is(err, core.ErrMemberExists) {
						return Entry{Found: true}, nil
					}
					return Entry{}, err
				})
				member[g] = true
			}
			slow.armed.Store(true)
			do(OpRevoke, g, "", func(ctx context.Context) (Entry, error) {
				_, err := v.Revoke(ctx, g)
				return Entry{}, err
			})
			slow.armed.Store(false)
			member[g] = false
			slowTries++
			slowDone = slowFired.Load() || slowTries >= 10
			continue
		}
		p := rng.IntN(100)
		switch {
		case p < 35:
			name := cfg.Own[rng.IntN(len(cfg.Own))]
			val := fmt.Sprintf("%s|%d|%d", name, seq+1, rng.Uint32())
			do(OpPut, name, val, func(ctx context.Context) (Entry, error) {
				return Entry{}, v.Put(ctx, name, []byte(val))
			})
		case p < 55:
			name := cfg.Own[rng.IntN(len(cfg.Own))]
			do(OpGet, name, "", func(ctx context.Context) (Entry, error) { return get(ctx, v, name) })
		case p < 67:
			if len(cfg.Others) == 0 {
				continue
			}
			name := cfg.Others[rng.IntN(len(cfg.Others))]
			do(OpGetOther, name, "", func(ctx context.Context) (Entry, error) { return get(ctx, v, name) })
		case p < 79:
			name := cfg.Own[rng.IntN(len(cfg.Own))]
			do(OpDelete, name, "", func(ctx context.Context) (Entry, error) {
				err := v.Delete(ctx, name)
				if errors.Is(err, core.ErrCredentialNotFound) {
					return Entry{Found: false}, nil // acknowledged: it is absent
				}
				return Entry{Found: true}, err
			})
		case p < 89:
			do(OpList, "", "", func(ctx context.Context) (Entry, error) {
				names, err := v.List(ctx)
				return Entry{Names: names}, err
			})
		default:
			if len(guestNames) == 0 {
				continue
			}
			g := guestNames[rng.IntN(len(guestNames))]
			if !member[g] {
				do(OpGrant, g, "", func(ctx context.Context) (Entry, error) {
					err := v.Grant(ctx, guests[g], g, core.RoleMember, &core.GrantOptions{AllowClassical: true})
					if errors.Is(err, core.ErrMemberExists) {
						return Entry{Found: true}, nil // acknowledged: it is a member
					}
					return Entry{}, err
				})
				member[g] = true
			} else {
				do(OpRevoke, g, "", func(ctx context.Context) (Entry, error) {
					_, err := v.Revoke(ctx, g)
					if errors.Is(err, core.ErrMemberNotFound) {
						return Entry{Found: false}, nil // acknowledged: it is not a member
					}
					return Entry{}, err
				})
				member[g] = false
			}
		}
	}
	stopKills()
	killWG.Wait()
	return lg.Write(Entry{Op: EvDone, Val: fmt.Sprint(seq)})
}

func get(ctx context.Context, v *core.Vault, name string) (Entry, error) {
	b, err := v.Get(ctx, name)
	if errors.Is(err, core.ErrCredentialNotFound) {
		return Entry{Found: false}, nil
	}
	if err != nil {
		return Entry{}, err
	}
	return Entry{Found: true, Val: string(b)}, nil
}

func runResume(ctx context.Context, lg *Log, v *core.Vault) error {
	for try := 0; ; try++ {
		octx, cancel := context.WithTimeout(ctx, 60*time.Second)
		pending, err := v.Pending(octx)
		if err == nil {
			lg.Write(Entry{Op: EvPending, Val: fmt.Sprint(pending)})
			_, err = v.Resume(octx)
		}
		cancel()
		if err == nil {
			return lg.Write(Entry{Op: EvResume, Phase: PhaseOK})
		}
		lg.Write(Entry{Op: EvResume, Phase: PhaseFail, Err: err.Error(), Class: Classify(err)})
		if try >= 4 || Classify(err) == "tampered" || Classify(err) == "rollback" {
			return fmt.Errorf("resume: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
