// Package config is the one registry of settings: defaults < config file (redis.conf syntax)
// < SIDECACHE_* environment < command-line flags, and CONFIG GET/SET at run time. Names are
// Redis's (maxmemory, proto-max-bulk-len, ...); our own settings follow the same style
// (admin-addr, shutdown-delay). Sizes accept 256mb, 1gb, 100k, plain bytes.
//
// Reads are lock-free: every setting keeps its parsed value in atomics, and the name → setting
// map is written only by New. Writers (Load, CONFIG SET) are serialised by one mutex.
package config

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidecache/sidecache/glob"
)

// Config holds every setting. Safe for concurrent use: reads are cheap (no lock on the
// typed getters), CONFIG SET is serialised.
type Config struct {
	byName map[string]*Setting // read-only after New
	names  []string            // sorted, read-only after New
	outbuf *Setting            // client-output-buffer-limit, for OutputBufferLimit
	// renames are the rename-command directives (rename.go), in load order; written only
	// while Load runs.
	renames []CommandRename

	mu    sync.Mutex // serialises writers and hook registration
	hooks map[*Setting][]func(*Config)
}

// Setting is one registered setting. Hot callers look it up once (Config.Lookup) and read it
// with Int/Bool/String/Duration, which are single atomic loads.
type Setting struct {
	name      string
	alias     string // an older name accepted everywhere and listed by CONFIG GET (Redis's aliases)
	help      string
	def       string                                    // the default as written in a config file
	immutable bool                                      // CONFIG SET refuses it; file, env and flags may set it
	multiArg  bool                                      // a config-file line's arguments are joined by spaces (save, bind, ...)
	secret    bool                                      // CONFIG GET shows "(redacted)" unless empty
	parse     func(s *Setting, v string) (value, error) // called under Config.mu (or from New)

	num  atomic.Int64           // integers, sizes (bytes), durations (ms), bools (0/1), enum index
	text atomic.Pointer[string] // as CONFIG GET shows it, before redaction
	aux  atomic.Pointer[any]    // a parsed structure, for settings that have one
}

// value is the result of parsing one setting's text.
type value struct {
	num  int64
	text string
	aux  any
}

// New returns a registry holding the built-in defaults.
func New() *Config {
	c := &Config{byName: make(map[string]*Setting), hooks: make(map[*Setting][]func(*Config))}
	for _, s := range registry() {
		v, err := s.parse(s, s.def)
		if err != nil {
			panic("config: bad default for " + s.name + ": " + err.Error())
		}
		s.store(v)
		c.byName[s.name] = s
		c.names = append(c.names, s.name)
		if s.alias != "" {
			c.byName[s.alias] = s
			c.names = append(c.names, s.alias)
		}
	}
	sort.Strings(c.names)
	c.outbuf = c.byName["client-output-buffer-limit"]
	return c
}

// Lookup returns the setting called name (case-insensitive), or nil. The handle stays valid
// for the life of c; reading it is lock-free.
func (c *Config) Lookup(name string) *Setting {
	if s, ok := c.byName[name]; ok {
		return s
	}
	return c.byName[strings.ToLower(name)]
}

func (c *Config) must(name string) *Setting {
	s := c.Lookup(name)
	if s == nil {
		panic("config: unknown setting " + name)
	}
	return s
}

// Get returns a setting's value as CONFIG GET shows it (sizes in bytes, durations as Go
// durations such as "10s", secrets as "(redacted)" unless empty); ok is false for an unknown
// name.
func (c *Config) Get(name string) (value string, ok bool) {
	s := c.Lookup(name)
	if s == nil {
		return "", false
	}
	return s.shown(), true
}

// Each calls fn, in name order, for every setting (and alias) whose name matches the glob
// pattern (Redis's glob, case-insensitive), as CONFIG GET does.
func (c *Config) Each(pattern string, fn func(name, value string)) {
	for _, name := range c.names {
		if glob.MatchString(pattern, name, true) {
			fn(name, c.byName[name].shown())
		}
	}
}

// Set changes a setting at run time, as CONFIG SET does, then runs the setting's OnChange
// hooks (on the caller's goroutine, in registration order, after the new value is visible).
// The error text is the Redis reply without '-', e.g. "ERR Unknown option or number of
// arguments for CONFIG SET - 'foo'" or "ERR CONFIG SET failed (possibly related to argument
// 'port') - can't set immutable config".
func (c *Config) Set(name, value string) error {
	s := c.Lookup(name)
	if s == nil {
		return &SetError{text: "ERR Unknown option or number of arguments for CONFIG SET - '" + name + "'"}
	}
	if s.immutable {
		return s.setFailed(errImmutable)
	}
	c.mu.Lock()
	v, err := s.parse(s, value)
	if err != nil {
		c.mu.Unlock()
		if strings.EqualFold(name, s.alias) { // Redis names the alias the client used
			return &SetError{text: "ERR CONFIG SET failed (possibly related to argument '" + s.alias + "') - " + err.Error()}
		}
		return s.setFailed(err)
	}
	s.store(v)
	hooks := c.hooks[s]
	c.mu.Unlock()
	for _, fn := range hooks {
		fn(c)
	}
	return nil
}

// SetError is a CONFIG SET failure; Error is the Redis error reply without the leading '-'.
type SetError struct{ text string }

func (e *SetError) Error() string { return e.text }

func (s *Setting) setFailed(err error) error {
	return &SetError{text: "ERR CONFIG SET failed (possibly related to argument '" + s.name + "') - " + err.Error()}
}

// load sets s from a config file, the environment or a flag: immutable settings are allowed
// and no hooks run (nothing is listening yet).
func (c *Config) load(s *Setting, value string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, err := s.parse(s, value)
	if err != nil {
		return err
	}
	s.store(v)
	return nil
}

// OnChange registers fn to run after name changes at run time (Config.Set). It panics on an
// unknown name: that is a programming error.
func (c *Config) OnChange(name string, fn func(c *Config)) {
	s := c.must(name)
	c.mu.Lock()
	c.hooks[s] = append(c.hooks[s][:len(c.hooks[s]):len(c.hooks[s])], fn)
	c.mu.Unlock()
}

// Typed getters for the server's own use; name must be a registered setting of that kind
// (they panic on an unknown name). Hot paths should keep a Lookup handle instead.

// Int returns integers, sizes (bytes), durations (ms), enum indexes and bools (0/1).
func (c *Config) Int(name string) int64 { return c.must(name).Int() }

// String returns the value as CONFIG GET shows it, except that secrets are not redacted.
func (c *Config) String(name string) string { return c.must(name).String() }

// Bool returns a yes/no setting.
func (c *Config) Bool(name string) bool { return c.must(name).Bool() }

// Duration returns a duration setting (ms precision).
func (c *Config) Duration(name string) time.Duration { return c.must(name).Duration() }

// Name is the setting's name.
func (s *Setting) Name() string { return s.name }

// Mutable reports whether CONFIG SET may change the setting.
func (s *Setting) Mutable() bool { return !s.immutable }

// Int: see Config.Int.
func (s *Setting) Int() int64 { return s.num.Load() }

// Bool: see Config.Bool.
func (s *Setting) Bool() bool { return s.num.Load() != 0 }

// Duration: see Config.Duration.
func (s *Setting) Duration() time.Duration { return time.Duration(s.num.Load()) * time.Millisecond }

// String: see Config.String.
func (s *Setting) String() string { return *s.text.Load() }

func (s *Setting) shown() string {
	t := *s.text.Load()
	if s.secret && t != "" {
		return "(redacted)"
	}
	return t
}

// store publishes v. aux is stored before num and text, so a reader that sees the new text
// never sees an older structure than it; readers of different fields may briefly disagree.
func (s *Setting) store(v value) {
	if v.aux != nil {
		a := v.aux
		s.aux.Store(&a)
	}
	s.num.Store(v.num)
	t := v.text
	s.text.Store(&t)
}
