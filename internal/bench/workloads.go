package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/internal/bench/floor"
	"github.com/ALRubinger/aileron-store/sdk"
)

// Workloads lists the workload names in the order Run runs them.
var Workloads = []string{"ping", "get", "put", "list", "grant", "revoke"}

// Params say what to run.
type Params struct {
	Backend     string
	Workloads   []string // subset of Workloads; empty means all
	N           int      // credentials in the vault
	Concurrency int
	Limits      Limits // per timed loop
	ValueSize   int
	// Progress, if set, receives a line about each phase.
	Progress func(format string, args ...any)
}

// Env is what the workloads run against.
type Env struct {
	// Store is the host's path to the backend: normally the plugin Client.
	Store sdk.Store
	// Ping makes one empty round trip to the same plugin process (the IPC
	// floor); nil when Store is in process.
	Ping func(ctx context.Context) error
	// Floor is a bare gRPC server in a process of its own (see floor.Start):
	// the ping workload's baseline, and the put workload's bare write floor
	// when it was started with the raw client's setup (WriteFloor). Nil
	// skips the ping workload's baseline.
	Floor *floor.Floor
	// Raw is the backend's own client, for the baselines.
	Raw Raw
	// StateDir holds the engine's rollback pins for the run.
	StateDir string
}

// Result is one workload's figures. JSON field names are part of the bench
// command's output contract.
type Result struct {
	Workload          string  `json:"workload"`
	Backend           string  `json:"backend"`
	N                 int     `json:"n"`
	Concurrency       int     `json:"concurrency"`
	Ops               int     `json:"ops"`
	OpsPerSec         float64 `json:"ops_per_sec"`
	P50us             float64 `json:"p50_us"`
	P99us             float64 `json:"p99_us"`
	PeakRSSBytes      int64   `json:"peak_rss_bytes"`
	BaselineOpsPerSec float64 `json:"baseline_ops_per_sec"`
	BaselineP50us     float64 `json:"baseline_p50_us"`
	IPCFloorP50us     float64 `json:"ipc_floor_p50_us"`
	RatioP50          float64 `json:"ratio_p50"`
	RatioOps          float64 `json:"ratio_ops"`
	// Baseline says what the baseline did.
	Baseline string `json:"baseline"`
	// AddedP50us is p50 minus the baseline p50 (get and put): the cost of
	// the plugin boundary and the crypto.
	AddedP50us float64 `json:"added_p50_us,omitempty"`
	// CallsPerOp is the Store calls the engine made per operation (get, put;
	// per credential for revoke): over a plugin, its round trips.
	CallsPerOp float64 `json:"calls_per_op,omitempty"`
	// TLSFloorP50us (ping) is the p50 of the bare gRPC call with mutual TLS
	// (the baseline is the same call without TLS).
	TLSFloorP50us float64 `json:"tls_floor_p50_us,omitempty"`
	// BareWriteP50us (put, where the raw client can be shared: fs,
	// postgres) is the p50 of the bare write floor: a call to a bare gRPC
	// server in a process of its own (unix socket, no TLS, no go-plugin)
	// that does only the raw put, the baseline's own code on the same
	// blobs. Minus the baseline p50, it is what crossing a process costs a
	// call that waits on that write.
	BareWriteP50us float64 `json:"bare_write_p50_us,omitempty"`
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Run runs the selected workloads and calls emit with each result.
func Run(ctx context.Context, env Env, p Params, emit func(Result)) error {
	if p.N < 1 {
		p.N = 1000
	}
	if p.Concurrency < 1 {
		p.Concurrency = 1
	}
	if p.ValueSize < 1 {
		p.ValueSize = 1024
	}
	if p.Progress == nil {
		p.Progress = func(string, ...any) {}
	}
	sel := p.Workloads
	if len(sel) == 0 {
		sel = Workloads
	}
	r := &runner{env: env, p: p, run: runID()}
	defer r.close(ctx)
	for _, w := range sel {
		var res Result
		var err error
		ResetPeakRSS()
		switch w {
		case "ping":
			res, err = r.ping(ctx)
		case "get":
			res, err = r.get(ctx)
		case "put":
			res, err = r.put(ctx)
		case "list":
			res, err = r.list(ctx)
		case "grant":
			res, err = r.grant(ctx)
		case "revoke":
			res, err = r.revoke(ctx)
		default:
			return fmt.Errorf("unknown workload %q (want one of %v)", w, Workloads)
		}
		if err != nil {
			return fmt.Errorf("workload %s: %w", w, err)
		}
		res.Workload, res.Backend, res.N, res.Concurrency = w, p.Backend, p.N, p.Concurrency
		res.PeakRSSBytes = r.peak
		if res.PeakRSSBytes == 0 {
			res.PeakRSSBytes = PeakRSS()
		}
		r.peak = 0
		emit(res)
	}
	return nil
}

func runID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type runner struct {
	env   Env
	p     Params
	run   string
	store *countingStore // env.Store, counted
	eng   *core.Engine
	admin *core.Identity
	vault *core.Vault // the main vault, N credentials
	rawN  int         // raw baseline blobs written (keys: rawKey)
	gen   int         // generation of the raw keys (revoke moves them)
	// peak is the host process's peak RSS read right after the host side
	// of a workload, before its baseline runs in the same process.
	peak int64
}

func (r *runner) close(ctx context.Context) {
	if r.vault != nil {
		r.vault.Lock()
	}
	if r.env.Raw != nil {
		r.env.Raw.Cleanup(ctx, r.rawPrefix())
	}
}

func (r *runner) rawPrefix() string { return "bench-raw-" + r.run }

// rawKey is the key of raw blob i in the current generation. Keys are made
// as they are needed rather than kept: a million of them would be 64 MiB of
// the process's RSS, which the revoke's peak RSS would count.
func (r *runner) rawKey(i int) string { return rawKeyOf(r.rawPrefix(), r.gen, i) }

func rawKeyOf(prefix string, gen, i int) string { return fmt.Sprintf("%s/g%d-%07d", prefix, gen, i) }

func perOp(calls int64, ops int) float64 {
	if ops <= 0 {
		return 0
	}
	return float64(calls) / float64(ops)
}

func credName(i int) string { return fmt.Sprintf("cred-%07d", i) }

func (r *runner) value() []byte {
	v := make([]byte, r.p.ValueSize)
	rand.Read(v)
	return v
}

// engine returns the engine and the main vault filled with N credentials.
func (r *runner) engine(ctx context.Context) (*core.Vault, error) {
	if r.vault != nil {
		return r.vault, nil
	}
	r.store = &countingStore{Store: r.env.Store}
	eng, err := core.New(r.store, &core.Options{StateDir: r.env.StateDir, Concurrency: r.p.Concurrency})
	if err != nil {
		return nil, err
	}
	admin, err := core.NewIdentity(core.SuiteMLKEM768X25519)
	if err != nil {
		return nil, err
	}
	v, err := eng.CreateVault(ctx, "bench-"+r.run, admin, "admin")
	if err != nil {
		return nil, err
	}
	if err := r.fill(ctx, v, r.p.N); err != nil {
		return nil, err
	}
	r.eng, r.admin, r.vault = eng, admin, v
	return v, nil
}

func (r *runner) fill(ctx context.Context, v *core.Vault, n int) error {
	r.p.Progress("filling vault %s with %d credentials of %d bytes", v.Name(), n, r.p.ValueSize)
	val := r.value()
	_, err := Loop(ctx, r.p.Concurrency, Limits{Ops: n}, func(ctx context.Context, i int) error {
		return v.Put(ctx, credName(i), val)
	})
	return err
}

// rawFill writes N raw blobs of the size of an encrypted record.
func (r *runner) rawFill(ctx context.Context) error {
	if r.rawN > 0 {
		return nil
	}
	val := make([]byte, r.rawSize())
	rand.Read(val)
	r.p.Progress("writing %d raw baseline blobs", r.p.N)
	_, err := Loop(ctx, r.p.Concurrency, Limits{Ops: r.p.N}, func(ctx context.Context, i int) error {
		return r.env.Raw.Put(ctx, r.rawKey(i), val)
	})
	r.rawN = r.p.N
	return err
}

// rawSize is the size of the raw baseline's blobs: that of the records the
// engine wrote (padded as format 2 pads them), else the value size plus a
// record's fixed overhead when the engine has written nothing yet.
func (r *runner) rawSize() int {
	if r.store != nil {
		if n := r.store.written.Load(); n > 0 {
			return int(n)
		}
	}
	return r.p.ValueSize + recordOverhead
}

// recordOverhead approximates the bytes an encrypted record adds to a value
// (header, name, nonce, tag, signature) before padding.
const recordOverhead = 160

// withFloor times ops (host, baseline, ...) interleaved, and with them the
// IPC floor (an empty round trip to the plugin process) when the store is a
// plugin: it returns one Sample per op, and the floor's (zero when in
// process).
func (r *runner) withFloor(ctx context.Context, ops ...func(ctx context.Context, i int) error) ([]Sample, Sample, error) {
	if r.env.Ping == nil {
		s, err := r.interleaved(ctx, ops...)
		return s, Sample{}, err
	}
	s, err := r.interleaved(ctx, append(ops, func(ctx context.Context, _ int) error { return r.env.Ping(ctx) })...)
	if err != nil {
		return nil, Sample{}, err
	}
	return s[:len(ops)], s[len(ops)], nil
}

// rounds is how many parts a workload's timed loops are split into,
// alternated (host, baseline, host, ...), so that drift on a shared machine
// (other load, the page cache, fsync latency) falls on each loop alike.
const rounds = 5

// interleaved runs each op as a loop at the workload's concurrency, the
// limits split into rounds alternated between the ops, and returns one
// Sample per op over all its rounds.
func (r *runner) interleaved(ctx context.Context, ops ...func(ctx context.Context, i int) error) ([]Sample, error) {
	lim := r.p.Limits
	if lim.Ops > 0 {
		lim.Ops = max(1, lim.Ops/rounds)
	}
	lim.Duration /= rounds
	lat := make([][]time.Duration, len(ops))
	elapsed := make([]time.Duration, len(ops))
	for round := range rounds {
		for k, op := range ops {
			base := round * lim.Ops
			l, e, err := loop(ctx, r.p.Concurrency, lim, func(ctx context.Context, i int) error { return op(ctx, base+i) })
			if err != nil {
				return nil, err
			}
			lat[k], elapsed[k] = append(lat[k], l...), elapsed[k]+e
		}
	}
	out := make([]Sample, len(ops))
	for k := range ops {
		out[k] = Summarize(lat[k], elapsed[k])
	}
	return out, nil
}

// ping times the empty call to the plugin (go-plugin, mutual TLS, the SDK's
// call path) against the same empty call to a bare gRPC server in a process
// of its own over a unix socket, without TLS and with mutual TLS, at the same
// concurrency: each layer's cost is the difference of two of them.
func (r *runner) ping(ctx context.Context) (Result, error) {
	if r.env.Ping == nil || r.env.Floor == nil {
		return Result{}, fmt.Errorf("needs a plugin process and the bare gRPC floor process")
	}
	r.p.Progress("ping: timing plugin Ping, bare gRPC and bare gRPC with mutual TLS, %d rounds", rounds)
	call := func(f func(context.Context) error) func(context.Context, int) error {
		return func(ctx context.Context, _ int) error { return f(ctx) }
	}
	s, err := r.interleaved(ctx, call(r.env.Ping), call(r.env.Floor.Bare), call(r.env.Floor.BareTLS))
	if err != nil {
		return Result{}, err
	}
	r.peak = PeakRSS()
	host, bare, withTLS := s[0], s[1], s[2]
	res := compare(host, bare, host, "bare gRPC unary call to another process over a unix socket, no TLS, no go-plugin")
	res.AddedP50us = 0
	res.TLSFloorP50us = us(withTLS.P50)
	return res, nil
}

func (r *runner) get(ctx context.Context) (Result, error) {
	v, err := r.engine(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := r.rawFill(ctx); err != nil {
		return Result{}, err
	}
	r.p.Progress("get: timing the host, the raw client and the IPC floor, %d rounds", rounds)
	calls0 := r.store.calls.Load()
	s, floor, err := r.withFloor(ctx, func(ctx context.Context, i int) error {
		val, err := v.Get(ctx, credName(i%r.p.N))
		clear(val)
		return err
	}, func(ctx context.Context, i int) error {
		_, err := r.env.Raw.Get(ctx, r.rawKey(i%r.rawN))
		return err
	})
	if err != nil {
		return Result{}, err
	}
	r.peak = PeakRSS()
	host := s[0]
	res := compare(host, s[1], floor, "raw "+r.env.Raw.Name()+" read of a blob of the same size")
	res.CallsPerOp = perOp(r.store.calls.Load()-calls0, host.Ops)
	return res, nil
}

func (r *runner) put(ctx context.Context) (Result, error) {
	v, err := r.engine(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := r.rawFill(ctx); err != nil {
		return Result{}, err
	}
	val := r.value()
	rawVal := make([]byte, r.rawSize())
	rand.Read(rawVal) // as incompressible as a record (PostgreSQL compresses)
	ops := []func(ctx context.Context, i int) error{func(ctx context.Context, i int) error {
		return v.Put(ctx, credName(i%r.p.N), val)
	}, func(ctx context.Context, i int) error {
		return r.env.Raw.Put(ctx, r.rawKey(i%r.rawN), rawVal)
	}}
	// The bare write floor: the same raw put of the same blobs, done in the
	// bare gRPC server's process, one call across the boundary per put.
	bareWrite := r.env.Floor != nil && r.env.Floor.Writes()
	timed := "the host, the raw client and the IPC floor"
	if bareWrite {
		ops = append(ops, func(ctx context.Context, i int) error {
			return r.env.Floor.Put(ctx, r.rawKey(i%r.rawN), rawVal)
		})
		timed = "the host, the raw client, the bare write floor and the IPC floor"
	}
	r.p.Progress("put: timing %s, %d rounds", timed, rounds)
	calls0 := r.store.calls.Load()
	s, floor, err := r.withFloor(ctx, ops...)
	if err != nil {
		return Result{}, err
	}
	r.peak = PeakRSS()
	host := s[0]
	res := compare(host, s[1], floor, "raw "+r.env.Raw.Name()+" write of a blob of the same size")
	res.CallsPerOp = perOp(r.store.calls.Load()-calls0, host.Ops)
	if bareWrite {
		res.BareWriteP50us = us(s[2].P50)
	}
	return res, nil
}

func compare(host, base, floor Sample, what string) Result {
	res := Result{
		Ops: host.Ops, OpsPerSec: host.OpsPerSec(), P50us: us(host.P50), P99us: us(host.P99),
		BaselineOpsPerSec: base.OpsPerSec(), BaselineP50us: us(base.P50), IPCFloorP50us: us(floor.P50),
		Baseline: what,
	}
	res.RatioP50 = ratio(res.P50us, res.BaselineP50us)
	res.RatioOps = ratio(res.OpsPerSec, res.BaselineOpsPerSec)
	res.AddedP50us = res.P50us - res.BaselineP50us
	return res
}

// list times listing every credential name (the engine decrypts each record
// to learn its name) against a raw listing of the same number of blobs with
// their values.
func (r *runner) list(ctx context.Context) (Result, error) {
	v, err := r.engine(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := r.rawFill(ctx); err != nil {
		return Result{}, err
	}
	lim := smallLimits(r.p.Limits, 20)
	r.p.Progress("list: timing %d listings of %d credentials", lim.Ops, r.p.N)
	host, err := Loop(ctx, 1, lim, func(ctx context.Context, _ int) error {
		names, err := v.List(ctx)
		if err == nil && len(names) != r.p.N {
			err = fmt.Errorf("listed %d credentials, want %d", len(names), r.p.N)
		}
		return err
	})
	if err != nil {
		return Result{}, err
	}
	r.peak = PeakRSS()
	base, err := Loop(ctx, 1, lim, func(ctx context.Context, _ int) error {
		n, err := r.env.Raw.List(ctx, r.rawPrefix())
		if err == nil && n != r.p.N {
			err = fmt.Errorf("raw listing found %d blobs, want %d", n, r.p.N)
		}
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("baseline: %w", err)
	}
	return compare(host, base, Sample{}, "raw "+r.env.Raw.Name()+" listing of as many blobs, with their values"), nil
}

func smallLimits(l Limits, maxOps int) Limits {
	if l.Ops <= 0 || l.Ops > maxOps {
		l.Ops = maxOps
	}
	return l
}

// grant times granting new members to the vault with N credentials against
// granting to a vault with 10: grant must not depend on the credential count.
func (r *runner) grant(ctx context.Context) (Result, error) {
	v, err := r.engine(ctx)
	if err != nil {
		return Result{}, err
	}
	small, err := r.eng.CreateVault(ctx, "bench-small-"+r.run, r.admin, "admin")
	if err != nil {
		return Result{}, err
	}
	defer small.Lock()
	if err := r.fill(ctx, small, 10); err != nil {
		return Result{}, err
	}
	lim := smallLimits(r.p.Limits, 20)
	recips := make([]*core.Recipient, 2*lim.Ops)
	for i := range recips {
		id, err := core.NewIdentity(core.SuiteMLKEM768X25519)
		if err != nil {
			return Result{}, err
		}
		recips[i] = id.Recipient()
		id.Wipe()
	}
	r.p.Progress("grant: timing %d grants with %d and with 10 credentials, interleaved", lim.Ops, r.p.N)
	// Interleave the two vaults' grants so that drift on a noisy machine
	// (other load, the page cache, fsync latency) falls on both alike.
	var bigLat, smallLat []time.Duration
	t0 := time.Now()
	var bigTime, smallTime time.Duration
	for i := 0; i < 2*lim.Ops; i++ {
		if lim.Duration > 0 && time.Since(t0) > 2*lim.Duration {
			break
		}
		vault, lat, total := v, &bigLat, &bigTime
		if i%2 == 1 {
			vault, lat, total = small, &smallLat, &smallTime
		}
		start := time.Now()
		if err := vault.Grant(ctx, recips[i], fmt.Sprintf("member-%d", i), core.RoleMember, nil); err != nil {
			return Result{}, err
		}
		d := time.Since(start)
		*lat = append(*lat, d)
		*total += d
	}
	r.peak = PeakRSS()
	host := Summarize(bigLat, bigTime)
	base := Summarize(smallLat, smallTime)
	return compare(host, base, Sample{}, "the same grants to a vault with 10 credentials"), nil
}

// revoke times one revoke (rotate + sweep of N credentials) against a raw
// read and write of N blobs at the same concurrency.
func (r *runner) revoke(ctx context.Context) (Result, error) {
	v, err := r.engine(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := r.rawFill(ctx); err != nil {
		return Result{}, err
	}
	bob, err := core.NewIdentity(core.SuiteMLKEM768X25519)
	if err != nil {
		return Result{}, err
	}
	defer bob.Wipe()
	if err := v.Grant(ctx, bob.Recipient(), "bob", core.RoleMember, nil); err != nil {
		return Result{}, err
	}
	r.p.Progress("revoke: timing a revoke of %d credentials", r.p.N)
	// The peak RSS is the revoke's, as in a host process that runs only the
	// revoke: the fill's garbage goes back to the system first.
	debug.FreeOSMemory()
	ResetPeakRSS()
	calls0 := r.store.calls.Load()
	t0 := time.Now()
	rep, err := v.Revoke(ctx, "bob")
	if err != nil {
		return Result{}, err
	}
	host := time.Since(t0)
	calls := r.store.calls.Load() - calls0
	r.peak = PeakRSS()
	if rep.Reencrypted != r.p.N {
		return Result{}, fmt.Errorf("revoke re-encrypted %d credentials, want %d", rep.Reencrypted, r.p.N)
	}
	// The revoke moves each record to a new storage key (format v2), so the
	// baseline does what a hand-written move would: read the blob, write it
	// under a new key, delete the old one.
	r.p.Progress("revoke: timing raw read+write+delete of %d blobs", r.p.N)
	from := r.gen
	r.gen++
	t0 = time.Now()
	_, err = Loop(ctx, r.p.Concurrency, Limits{Ops: r.rawN}, func(ctx context.Context, i int) error {
		old := rawKeyOf(r.rawPrefix(), from, i)
		b, err := r.env.Raw.Get(ctx, old)
		if err != nil {
			return err
		}
		if err := r.env.Raw.Put(ctx, r.rawKey(i), b); err != nil {
			return err
		}
		return r.env.Raw.Delete(ctx, old)
	})
	if err != nil {
		return Result{}, fmt.Errorf("baseline: %w", err)
	}
	base := time.Since(t0)
	res := Result{
		Ops: r.p.N, OpsPerSec: float64(r.p.N) / host.Seconds(), P50us: us(host), P99us: us(host),
		BaselineOpsPerSec: float64(r.p.N) / base.Seconds(), BaselineP50us: us(base),
		Baseline:   "raw " + r.env.Raw.Name() + " read, write under a new key and delete of as many blobs at the same concurrency (whole run)",
		CallsPerOp: perOp(calls, r.p.N),
	}
	res.RatioP50 = ratio(res.P50us, res.BaselineP50us)
	res.RatioOps = ratio(res.OpsPerSec, res.BaselineOpsPerSec)
	return res, nil
}
