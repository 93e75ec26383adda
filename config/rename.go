package config

import (
	"errors"
	"fmt"
)

// CommandRename is one rename-command directive: the command Old is known as New from start
// up, or disabled when New is "". Like Redis, it is a start-up directive only: it is not a
// Setting, so CONFIG GET does not show it and CONFIG SET refuses it as an unknown option.
type CommandRename struct {
	Old, New string
	// Source names where the directive came from, for start-up errors ("config file
	// x.conf, line 3: >>> 'rename-command foo bar'", "flag --rename-command").
	Source string
}

// renameDirective is the directive's name in files, flags (--rename-command) and the
// environment (SIDECACHE_RENAME_COMMAND).
const renameDirective = "rename-command"

// errRenameArgs is the text Redis gives a rename-command line without exactly two arguments.
var errRenameArgs = errors.New("Bad directive or wrong number of arguments")

// CommandRenames returns the rename-command directives in the order they apply: config
// files, then the environment, then flags. The caller must not modify the slice.
func (c *Config) CommandRenames() []CommandRename { return c.renames }

// addRenames parses a flag's or environment variable's value: pairs of names split as a
// config line is: `FLUSHALL ""` disables FLUSHALL, `CONFIG cfg KEYS ""` holds two pairs.
func (c *Config) addRenames(value, source string) error {
	argv, ok := SplitArgs(value)
	if !ok {
		return errors.New("Unbalanced quotes in configuration line")
	}
	if len(argv) == 0 || len(argv)%2 != 0 {
		return fmt.Errorf("%s needs pairs of names (old new), got %q", renameDirective, value)
	}
	for i := 0; i < len(argv); i += 2 {
		c.renames = append(c.renames, CommandRename{Old: argv[i], New: argv[i+1], Source: source})
	}
	return nil
}
