// Package config loads the host's configuration: which storage backend to
// use, how to configure it, where plugins live, and where local state (the
// home directory) is kept.
//
// The file is YAML:
//
//	storage:
//	  backend: s3          # plugin name: the binary aileron-store-s3
//	  sha256: "..."        # optional pin of the plugin binary
//	  config:              # passed to the plugin as map[string]string
//	    bucket: aileron
//	    endpoint: http://127.0.0.1:9000
//	plugin_dir: /path/to/plugins
//
// Unknown keys are errors, and every error names the file, the line and the
// field. With no file at all, the filesystem backend stores its data under
// <home>/data.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Environment variables read by Load and Home.
const (
	EnvConfig    = "AILERON_STORE_CONFIG"     // path of the config file
	EnvHome      = "AILERON_STORE_HOME"       // local state directory
	EnvBackend   = "AILERON_STORE_BACKEND"    // overrides storage.backend
	EnvSHA256    = "AILERON_STORE_SHA256"     // overrides storage.sha256
	EnvPluginDir = "AILERON_STORE_PLUGIN_DIR" // overrides plugin_dir
	// EnvOptPrefix + KEY sets storage.config[lower(KEY)], e.g.
	// AILERON_STORE_OPT_SECRET_ACCESS_KEY=... sets secret_access_key. It keeps
	// secrets out of the config file.
	EnvOptPrefix = "AILERON_STORE_OPT_"
)

// DefaultBackend is the backend used when nothing says otherwise.
const DefaultBackend = "fs"

// FSDirField is the fs plugin's config field naming its data directory; the
// host fills it with <home>/data when the fs backend is used without one.
const FSDirField = "path"

// Config is the host's configuration after the file and the environment
// have been applied.
type Config struct {
	// File is the path the configuration was read from, "" when none was.
	File string
	// Storage selects and configures the backend plugin.
	Storage Storage
	// PluginDir is searched first for plugin binaries; "" when unset.
	PluginDir string
}

// Storage is the storage section.
type Storage struct {
	// Backend is the plugin name: the binary is aileron-store-<Backend>.
	Backend string
	// SHA256 optionally pins the plugin binary's SHA-256 (lower-case hex,
	// read with or without a "sha256:" prefix); "" when unset.
	SHA256 string
	// Config is passed to the plugin as is; the plugin validates it.
	Config map[string]string
}

// Error is a configuration error. It names the file (or environment
// variable), the line when there is one, and the field.
type Error struct {
	File  string // file path or "environment"
	Line  int    // 0 when unknown
	Field string // dotted path, e.g. "storage.config.bucket"
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}

var (
	backendRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	sha256RE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	optKeyRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
)

// Options say where Load looks.
type Options struct {
	// File is the --config flag; "" means not given.
	File string
	// Home is the resolved home directory; <Home>/config.yaml is read when no
	// file is named and it exists, and <Home>/data is the fs default.
	Home string
	// Getenv reads the environment; nil means os.Getenv. Environ lists it for
	// the AILERON_STORE_OPT_* overrides; nil means os.Environ.
	Getenv  func(string) string
	Environ func() []string
}

// Load reads the configuration: the file named by opts.File, else by
// $AILERON_STORE_CONFIG, else <home>/config.yaml if it exists, else
// defaults; then applies the environment overrides.
func Load(opts Options) (*Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	environ := opts.Environ
	if environ == nil {
		environ = os.Environ
	}
	path := opts.File
	mustExist := true
	if path == "" {
		path = getenv(EnvConfig)
	}
	if path == "" && opts.Home != "" {
		path = filepath.Join(opts.Home, "config.yaml")
		mustExist = false
	}
	cfg := &Config{Storage: Storage{Config: map[string]string{}}}
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			c, err := Parse(path, data)
			if err != nil {
				return nil, err
			}
			cfg = c
		case errors.Is(err, os.ErrNotExist) && !mustExist:
		default:
			return nil, fmt.Errorf("reading config file: %w", err)
		}
	}
	if err := cfg.applyEnv(getenv, environ()); err != nil {
		return nil, err
	}
	if cfg.Storage.Backend == "" {
		cfg.Storage.Backend = DefaultBackend
	}
	if cfg.Storage.Backend == "fs" && cfg.Storage.Config[FSDirField] == "" && opts.Home != "" {
		cfg.Storage.Config[FSDirField] = filepath.Join(opts.Home, "data")
	}
	if cfg.PluginDir != "" && !filepath.IsAbs(cfg.PluginDir) && cfg.File != "" {
		cfg.PluginDir = filepath.Join(filepath.Dir(cfg.File), cfg.PluginDir)
	}
	return cfg, nil
}

func (c *Config) applyEnv(getenv func(string) string, environ []string) error {
	env := func(name, field string, re *regexp.Regexp, dst *string) error {
		v := getenv(name)
		if v == "" {
			return nil
		}
		if re != nil && !re.MatchString(v) {
			return &Error{File: "environment", Field: name, Msg: describeRE(field, v)}
		}
		*dst = v
		return nil
	}
	if err := env(EnvBackend, "storage.backend", backendRE, &c.Storage.Backend); err != nil {
		return err
	}
	if v := getenv(EnvSHA256); v != "" {
		sum, ok := parseSHA256(v)
		if !ok {
			return &Error{File: "environment", Field: EnvSHA256, Msg: describeRE("storage.sha256", v)}
		}
		c.Storage.SHA256 = sum
	}
	if err := env(EnvPluginDir, "plugin_dir", nil, &c.PluginDir); err != nil {
		return err
	}
	var names []string
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, EnvOptPrefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		key := strings.ToLower(strings.TrimPrefix(name, EnvOptPrefix))
		if !optKeyRE.MatchString(key) {
			return &Error{File: "environment", Field: name, Msg: "not a valid storage.config key"}
		}
		c.Storage.Config[key] = getenv(name)
	}
	return nil
}

// parseSHA256 accepts a pin as sdk.ClientOptions.SHA256 does: 64 hex digits,
// optionally prefixed with "sha256:", in either case. It returns the
// lower-case digits.
func parseSHA256(v string) (string, bool) {
	v = strings.TrimPrefix(strings.ToLower(v), "sha256:")
	return v, sha256RE.MatchString(v)
}

func describeRE(field, v string) string {
	switch field {
	case "storage.backend":
		return fmt.Sprintf("%q is not a plugin name (lower-case letters, digits and '-', at most 63)", v)
	case "storage.sha256":
		return "must be 64 hex digits (the output of sha256sum), optionally prefixed with \"sha256:\""
	}
	return "invalid value"
}

// Parse decodes a config file's contents; path names the file in errors.
func Parse(path string, data []byte) (*Config, error) {
	cfg := &Config{File: path, Storage: Storage{Config: map[string]string{}}}
	errAt := func(n *yaml.Node, field, format string, args ...any) error {
		line := 0
		if n != nil {
			line = n.Line
		}
		return &Error{File: path, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return cfg, nil
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return cfg, nil // only comments
		}
		return nil, &Error{File: path, Line: yamlErrLine(err), Msg: "not valid YAML: " + yamlErrMsg(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errAt(&extra, "", "more than one YAML document; a config file holds one")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return cfg, nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return cfg, nil
	}
	top, err := mapping(root, "", errAt)
	if err != nil {
		return nil, err
	}
	for _, kv := range top {
		switch kv.key {
		case "storage":
			st, err := mapping(kv.val, "storage", errAt)
			if err != nil {
				return nil, err
			}
			for _, s := range st {
				field := "storage." + s.key
				switch s.key {
				case "backend":
					v, err := scalar(s.val, field, errAt)
					if err != nil {
						return nil, err
					}
					if !backendRE.MatchString(v) {
						return nil, errAt(s.val, field, "%s", describeRE(field, v))
					}
					cfg.Storage.Backend = v
				case "sha256":
					v, err := scalar(s.val, field, errAt)
					if err != nil {
						return nil, err
					}
					sum, ok := parseSHA256(v)
					if !ok {
						return nil, errAt(s.val, field, "%s", describeRE(field, v))
					}
					cfg.Storage.SHA256 = sum
				case "config":
					if s.val.Kind == yaml.ScalarNode && s.val.Tag == "!!null" {
						continue
					}
					m, err := mapping(s.val, field, errAt)
					if err != nil {
						return nil, err
					}
					for _, o := range m {
						of := field + "." + o.key
						if !optKeyRE.MatchString(o.key) {
							return nil, errAt(o.keyNode, of, "not a valid key (letters, digits, '_', '.', '-')")
						}
						v, err := scalar(o.val, of, errAt)
						if err != nil {
							return nil, err
						}
						cfg.Storage.Config[o.key] = v
					}
				default:
					return nil, errAt(s.keyNode, field, "unknown field (known: backend, sha256, config)")
				}
			}
		case "plugin_dir":
			v, err := scalar(kv.val, "plugin_dir", errAt)
			if err != nil {
				return nil, err
			}
			cfg.PluginDir = v
		default:
			return nil, errAt(kv.keyNode, kv.key, "unknown field (known: storage, plugin_dir)")
		}
	}
	return cfg, nil
}

type pair struct {
	key     string
	keyNode *yaml.Node
	val     *yaml.Node
}

type errAtFunc func(n *yaml.Node, field, format string, args ...any) error

func mapping(n *yaml.Node, field string, errAt errAtFunc) ([]pair, error) {
	if n.Kind == yaml.AliasNode {
		return nil, errAt(n, field, "aliases are not supported")
	}
	if n.Kind != yaml.MappingNode {
		what := field
		if what == "" {
			what = "the document"
		}
		return nil, errAt(n, field, "%s must be a mapping (key: value lines), got %s", what, kindName(n))
	}
	seen := map[string]bool{}
	var out []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, errAt(k, field, "keys must be plain strings")
		}
		if k.Value == "<<" {
			return nil, errAt(k, join(field, k.Value), "merge keys are not supported")
		}
		if seen[k.Value] {
			return nil, errAt(k, join(field, k.Value), "given twice")
		}
		seen[k.Value] = true
		out = append(out, pair{key: k.Value, keyNode: k, val: v})
	}
	return out, nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// scalar returns a scalar's value as a string: numbers and booleans keep
// their spelling in the file ("9000", "true"); null is "".
func scalar(n *yaml.Node, field string, errAt errAtFunc) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", errAt(n, field, "must be a single value, got %s", kindName(n))
	}
	if n.Tag == "!!null" {
		return "", nil
	}
	if n.Tag == "!!binary" {
		return "", errAt(n, field, "binary values are not supported")
	}
	return n.Value, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a value"
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func yamlErrLine(err error) int {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func yamlErrMsg(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = regexp.MustCompile(`^line \d+: `).ReplaceAllString(s, "")
	return s
}
