package command

import (
	"errors"
	"strings"

	"github.com/sidecache/sidecache/config"
)

// rename-command, as Redis applies it while it reads its configuration: the command leaves
// the table under its old name and, unless the new name is empty, comes back under the new
// one. Only the table clients call through changes (Server.table): the command keeps its
// name (Redis's fullname) in COMMAND INFO / LIST, errors and statistics, and ACL rules and
// ACL CAT work on the original table (Server.orig), as Redis's orig_commands.

// Texts of Redis 7's config.c for a rename-command line it cannot apply.
var (
	errRenameNoCommand = errors.New("No such command in rename-command")
	errRenameExists    = errors.New("Target command name already exists")
	// Not Redis's: Redis takes any length.
	errRenameTooLong = errors.New("New command name in rename-command is longer than 32 bytes")
)

// renameTable returns a copy of t with renames applied in order, or the first that cannot
// be applied. Only top-level commands can be renamed: Redis looks a "container|sub" name up
// but then fails an assertion deleting it, so it is refused here as unknown.
func renameTable(t map[string]*command, renames []config.CommandRename) (map[string]*command, error) {
	if len(renames) == 0 {
		return t, nil
	}
	out := make(map[string]*command, len(t))
	for name, cmd := range t {
		out[name] = cmd
	}
	for _, r := range renames {
		old := strings.ToLower(r.Old)
		cmd, ok := out[old]
		if !ok {
			return nil, renameError(r, errRenameNoCommand)
		}
		delete(out, old)
		if r.New == "" {
			continue
		}
		name := strings.ToLower(r.New)
		if len(name) > maxNameLen {
			// lookup folds names in a fixed buffer: a longer name could never be called.
			return nil, renameError(r, errRenameTooLong)
		}
		if _, taken := out[name]; taken {
			return nil, renameError(r, errRenameExists)
		}
		out[name] = cmd
	}
	return out, nil
}

func renameError(r config.CommandRename, err error) error {
	if r.Source == "" {
		return err
	}
	return errors.New(r.Source + ": " + err.Error())
}

// CheckConfig reports what in cfg the command layer cannot apply, as Redis refuses to start
// on it: a rename-command of an unknown command, or onto a name already taken. Call it after
// config.Load and before NewServer (which ignores renames that fail).
func CheckConfig(cfg *config.Config) error {
	if cfg == nil {
		return nil
	}
	_, err := renameTable(buildTable(), cfg.CommandRenames())
	return err
}

// applyRenames keeps the complete table as s.orig and makes s.table the one clients call
// through. Called by NewServer once every command has its id.
func (s *Server) applyRenames() {
	s.orig = s.table
	if s.cfg == nil {
		return
	}
	if t, err := renameTable(s.table, s.cfg.CommandRenames()); err == nil {
		s.table = t
	}
}
