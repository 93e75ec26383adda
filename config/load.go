package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// EnvPrefix starts every environment variable that sets a setting: SIDECACHE_MAXMEMORY_POLICY
// sets maxmemory-policy. Other SIDECACHE_* variables are ignored, because Kubernetes injects
// service links such as SIDECACHE_SERVICE_HOST for a Service named "sidecache".
const EnvPrefix = "SIDECACHE_"

// ErrHelp and ErrVersion are returned by Load for -h/--help and --version; the caller prints
// Usage or its version and exits 0.
var (
	ErrHelp    = errors.New("config: help requested")
	ErrVersion = errors.New("config: version requested")
)

// maxIncludeDepth bounds include chains, which also stops include cycles.
const maxIncludeDepth = 16

// Load builds the configuration of a process from its arguments (without the program name)
// and environment: defaults, then --config FILE (or a first argument naming an existing
// file, as redis-server takes), then environ's SIDECACHE_* variables, then flags
// (--maxmemory 256mb or --maxmemory=256mb). Flag parsing stops at "--" or at the first
// positional argument; rest is what follows (e.g. a subcommand and its arguments). Errors
// name their source: the file and line, the variable, or the flag.
func Load(args, environ []string) (c *Config, rest []string, err error) {
	c = New()
	type flagValue struct{ name, value string }
	var flags []flagValue
	var files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = args[i+1:]
		case a == "-h" || a == "--help" || a == "-help":
			return c, nil, ErrHelp
		case a == "--version" || a == "-v":
			return c, nil, ErrVersion
		case strings.HasPrefix(a, "--"):
			name, v, hasValue := strings.Cut(a[2:], "=")
			if !hasValue {
				if i+1 >= len(args) {
					return c, nil, fmt.Errorf("flag --%s: missing value", name)
				}
				i++
				v = args[i]
			}
			if name == "config" {
				files = append(files, v)
				continue
			}
			if name == renameDirective {
				flags = append(flags, flagValue{name, v})
				continue
			}
			if c.Lookup(name) == nil {
				return c, nil, fmt.Errorf("flag --%s: unknown setting (see --help)", name)
			}
			flags = append(flags, flagValue{name, v})
			continue
		case i == 0 && isFile(a):
			files = append(files, a)
			continue
		default:
			rest = args[i:]
		}
		break
	}
	for _, f := range files {
		if err := c.loadFile(f, 0, new(bool)); err != nil {
			return c, nil, err
		}
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		if k == EnvPrefix+"RENAME_COMMAND" {
			if err := c.addRenames(v, "environment "+k); err != nil {
				return c, nil, fmt.Errorf("environment %s: %w", k, err)
			}
			continue
		}
		s := c.Lookup(strings.ReplaceAll(strings.ToLower(k[len(EnvPrefix):]), "_", "-"))
		if s == nil {
			continue
		}
		if err := c.load(s, v); err != nil {
			return c, nil, fmt.Errorf("environment %s: %w", k, err)
		}
	}
	for _, f := range flags {
		if f.name == renameDirective {
			if err := c.addRenames(f.value, "flag --"+renameDirective); err != nil {
				return c, nil, fmt.Errorf("flag --%s: %w", f.name, err)
			}
			continue
		}
		if err := c.load(c.Lookup(f.name), f.value); err != nil {
			return c, nil, fmt.Errorf("flag --%s: %w", f.name, err)
		}
	}
	c.resizeAuto()
	return c, rest, nil
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// LoadFile applies a redis.conf-syntax file to c, as Load does for --config.
func (c *Config) LoadFile(path string) error { return c.loadFile(path, 0, new(bool)) }

// loadFile applies one file. Syntax is redis.conf's: one "name args..." directive a line,
// '#' comment lines, arguments split and unquoted as sdssplitargs does, names case
// insensitive, "include PATH" (relative paths are relative to the including file's
// directory; Redis uses the working directory). Multi-argument settings (save, bind,
// client-output-buffer-limit) take the rest of the line; save lines accumulate, the first
// one replacing the default, as in Redis. saveSeen is shared by a file and its includes.
func (c *Config) loadFile(path string, depth int, saveSeen *bool) error {
	if depth > maxIncludeDepth {
		return fmt.Errorf("config file %s: include nesting deeper than %d", path, maxIncludeDepth)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.Trim(line, " \t\r\n")
		if line == "" || line[0] == '#' {
			continue
		}
		fail := func(msg string) error {
			return fmt.Errorf("config file %s, line %d: >>> '%s': %s", path, n+1, line, msg)
		}
		argv, ok := SplitArgs(line)
		if !ok {
			return fail("Unbalanced quotes in configuration line")
		}
		if len(argv) == 0 {
			continue
		}
		name := strings.ToLower(argv[0])
		if name == "include" && len(argv) == 2 {
			inc := argv[1]
			if !filepath.IsAbs(inc) {
				inc = filepath.Join(filepath.Dir(path), inc)
			}
			if err := c.loadFile(inc, depth+1, saveSeen); err != nil {
				return err
			}
			continue
		}
		if name == renameDirective {
			// Redis's rule: exactly two names, checked against the command table later
			// (command.CheckConfig), when the table exists.
			if len(argv) != 3 {
				return fail(errRenameArgs.Error())
			}
			c.renames = append(c.renames, CommandRename{Old: argv[1], New: argv[2],
				Source: fmt.Sprintf("config file %s, line %d: >>> '%s'", path, n+1, line)})
			continue
		}
		s := c.Lookup(name)
		if s == nil {
			return fail("Bad directive or wrong number of arguments")
		}
		if (!s.multiArg && len(argv) != 2) || len(argv) < 2 {
			return fail("wrong number of arguments")
		}
		v := strings.Join(argv[1:], " ")
		if s.name == "save" {
			if *saveSeen && v != "" {
				v = s.String() + " " + v
			}
			*saveSeen = true
		}
		if err := c.load(s, v); err != nil {
			return fail(err.Error())
		}
	}
	return nil
}

// SplitArgs splits a line as Redis's sdssplitargs does: blanks separate arguments;
// "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes; 'single quotes' take \'; a
// closing quote must be followed by a blank or the end. ok is false on unbalanced quotes.
func SplitArgs(line string) (args []string, ok bool) {
	p := 0
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p == len(line) {
			return args, true
		}
		var cur []byte
		inq, insq := false, false
		for done := false; !done; {
			if p == len(line) {
				if inq || insq {
					return nil, false
				}
				break
			}
			ch := line[p]
			switch {
			case inq:
				if ch == '\\' && p+3 < len(line) && line[p+1] == 'x' && isHex(line[p+2]) && isHex(line[p+3]) {
					cur = append(cur, unhex(line[p+2])<<4|unhex(line[p+3]))
					p += 3
				} else if ch == '\\' && p+1 < len(line) {
					p++
					switch c := line[p]; c {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, c)
					}
				} else if ch == '"' {
					if p+1 < len(line) && !isSpace(line[p+1]) {
						return nil, false
					}
					done = true
				} else {
					cur = append(cur, ch)
				}
			case insq:
				if ch == '\\' && p+1 < len(line) && line[p+1] == '\'' {
					p++
					cur = append(cur, '\'')
				} else if ch == '\'' {
					if p+1 < len(line) && !isSpace(line[p+1]) {
						return nil, false
					}
					done = true
				} else {
					cur = append(cur, ch)
				}
			default:
				switch {
				case isSpace(ch):
					done = true
				case ch == '"':
					inq = true
				case ch == '\'':
					insq = true
				default:
					cur = append(cur, ch)
				}
			}
			if p < len(line) {
				p++
			}
		}
		args = append(args, string(cur))
	}
}

// isSpace is C's isspace in the "C" locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// Usage writes the flags, their defaults and whether CONFIG SET can change them.
func Usage(w io.Writer) {
	c := New()
	fmt.Fprintf(w, "Usage: sidecache [config-file] [--config FILE] [--name value | --name=value]... [subcommand]\n\n")
	fmt.Fprintf(w, "Every setting is also a config-file directive, an environment variable\n")
	fmt.Fprintf(w, "(%sMAXMEMORY_POLICY for maxmemory-policy) and a CONFIG GET/SET name.\n", EnvPrefix)
	fmt.Fprintf(w, "Precedence: defaults < config file < environment < flags.\n\n")
	for _, name := range c.names {
		s := c.byName[name]
		def := s.def
		if def == "" {
			def = `""`
		}
		fixed := ""
		if s.immutable {
			fixed = " [fixed at start]"
		}
		fmt.Fprintf(w, "  --%s %s\n        %s%s\n", name, def, s.help, fixed)
	}
	fmt.Fprintf(w, "\n  --%s 'OLD NEW'\n        rename a command at start up (NEW '' disables it); repeatable [fixed at start]\n", renameDirective)
	fmt.Fprintf(w, "\n  --config FILE    read a redis.conf-style file\n  --version        print the version\n  -h, --help       print this help\n")
}
