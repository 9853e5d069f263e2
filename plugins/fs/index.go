package fs

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Listing index.
//
// A listing page costs O(page), not O(directory): each Store keeps, in
// memory, the sorted entries of the directories it has listed (built lazily
// from one read of the directory, so a data directory written by any earlier
// version lists correctly), finds a page's start by binary search and reads
// only the page's files.
//
// The index is kept exact across processes by change counters in a shared
// memory-mapped file, #locks/gen: 1024 uint64 slots, a directory using the
// slot its path hashes to. Every change of a directory's set of names (a key
// created or deleted, a subdirectory created) increments its slot after the
// change, before the write returns. An index remembers the slot's value when
// it was known to be exact; a listing whose slot has moved past it rereads
// the directory. A Store that makes a change itself updates its own index in
// place, and keeps it only when the slot moved by exactly its own increment.
// Overwrites of existing keys change no name and touch no counter; versions
// and values are always read from the files themselves.
//
// Every process that writes a data directory must therefore run a plugin
// that maintains these counters (this one or later). The counters' values
// carry no data: the file may be deleted while no process uses the
// directory, and a crash leaves nothing to repair (a new process builds its
// indexes afresh).
const (
	genFile  = "gen"
	genSlots = 1024
	genSize  = genSlots * 8

	// maxIndexedDirs bounds the directories indexed at once; beyond it an
	// index is dropped (and rebuilt when next listed).
	maxIndexedDirs = 256
)

// ixEntry is one name of a directory: rel is the key's part below the
// directory (a file's name, or a subdirectory's segment followed by '/'), so
// entries sort by rel in key order.
type ixEntry struct {
	rel string
	dir bool
}

// name returns the entry's file or directory name on disk.
func (e ixEntry) name() string {
	if e.dir {
		return e.rel[:len(e.rel)-1] + dirSuffix
	}
	return e.rel
}

type dirIndex struct {
	mu      sync.Mutex
	valid   bool
	gen     uint64
	entries []ixEntry // sorted by rel
}

// indexes holds a Store's directory indexes and the shared counters.
type indexes struct {
	gmu sync.RWMutex // guards gen against close
	gen []byte       // the mmap of #locks/gen

	mu   sync.Mutex
	dirs map[string]*dirIndex
}

func openIndexes(root string) (*indexes, error) {
	f, err := os.OpenFile(filepath.Join(root, lockDir, genFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < genSize {
		// Several processes may do this at once; extending to the same
		// size with zeros is idempotent.
		if err := f.Truncate(genSize); err != nil {
			return nil, err
		}
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, genSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", f.Name(), err)
	}
	return &indexes{gen: m, dirs: map[string]*dirIndex{}}, nil
}

func (x *indexes) close() {
	x.gmu.Lock()
	defer x.gmu.Unlock()
	if x.gen != nil {
		syscall.Munmap(x.gen)
		x.gen = nil
	}
}

var errClosed = errors.New("the store is closed")

// counter applies op to dir's shared counter and returns its result; false
// when the store is closed.
func (x *indexes) counter(dir string, op func(*uint64) uint64) (uint64, bool) {
	h := fnv.New32a()
	h.Write([]byte(dir))
	x.gmu.RLock()
	defer x.gmu.RUnlock()
	if x.gen == nil {
		return 0, false
	}
	return op((*uint64)(unsafe.Pointer(&x.gen[(h.Sum32()%genSlots)*8]))), true
}

func increment(p *uint64) uint64 { return atomic.AddUint64(p, 1) }
func load(p *uint64) uint64      { return atomic.LoadUint64(p) }

// lookup returns dir's index, creating it when create is set.
func (x *indexes) lookup(dir string, create bool) *dirIndex {
	x.mu.Lock()
	defer x.mu.Unlock()
	ix := x.dirs[dir]
	if ix == nil && create {
		if len(x.dirs) >= maxIndexedDirs {
			for d := range x.dirs {
				delete(x.dirs, d)
				break
			}
		}
		ix = &dirIndex{}
		x.dirs[dir] = ix
	}
	return ix
}

// changed records that name was added to (add) or removed from dir, after
// the change happened on disk.
func (x *indexes) changed(dir, name string, add bool) {
	ix := x.lookup(dir, false)
	if ix == nil {
		x.counter(dir, increment)
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n, ok := x.counter(dir, increment)
	if !ok || !ix.valid || n != ix.gen+1 {
		// Someone else changed the directory (or a directory sharing its
		// slot) too: reread it next time.
		ix.valid = false
		return
	}
	ix.gen = n
	e, ok := entryOf(name)
	if !ok {
		return
	}
	i := sort.Search(len(ix.entries), func(i int) bool { return ix.entries[i].rel >= e.rel })
	present := i < len(ix.entries) && ix.entries[i].rel == e.rel
	switch {
	case add && !present:
		ix.entries = append(ix.entries, ixEntry{})
		copy(ix.entries[i+1:], ix.entries[i:])
		ix.entries[i] = e
	case !add && present:
		ix.entries = append(ix.entries[:i], ix.entries[i+1:]...)
	}
}

// entryOf returns the index entry of a name in a directory, and false for
// names that are no key's (the store's own, or foreign files).
func entryOf(name string) (ixEntry, bool) {
	if strings.HasPrefix(name, ownPrefix) {
		return ixEntry{}, false
	}
	if seg, ok := strings.CutSuffix(name, dirSuffix); ok {
		return ixEntry{rel: seg + "/", dir: true}, true
	}
	return ixEntry{rel: name}, true
}

// window returns up to n entries of dir whose rel starts with namePrefix and
// whose keys (below base, the directory's key prefix) may sort after
// startAfter, beginning after the entry rel skip ("" for the first window).
func (x *indexes) window(dir, base, namePrefix, startAfter, skip string, n int) ([]ixEntry, error) {
	ix := x.lookup(dir, true)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	g, ok := x.counter(dir, load)
	if !ok {
		return nil, errClosed
	}
	if !ix.valid || ix.gen != g {
		entries, err := readEntries(dir)
		if err != nil {
			ix.valid = false
			return nil, err
		}
		ix.entries, ix.gen, ix.valid = entries, g, true
	}
	es := ix.entries
	// Entries are sorted by rel and their key ranges are disjoint, so the
	// ones that qualify are a contiguous run: rel at or after namePrefix and
	// skip, and some key of the entry after startAfter.
	lo := sort.Search(len(es), func(i int) bool {
		e := es[i]
		if e.rel < namePrefix || (skip != "" && e.rel <= skip) {
			return false
		}
		key := base + e.rel
		if e.dir {
			return key > startAfter || strings.HasPrefix(startAfter, key)
		}
		return key > startAfter
	})
	var out []ixEntry
	for i := lo; i < len(es) && len(out) < n && strings.HasPrefix(es[i].rel, namePrefix); i++ {
		out = append(out, es[i])
	}
	return out, nil
}

// readEntries reads dir's key entries, sorted; a missing directory has none.
func readEntries(dir string) ([]ixEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return nil, err
	}
	out := make([]ixEntry, 0, len(names))
	for _, name := range names {
		if e, ok := entryOf(name); ok {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, nil
}
