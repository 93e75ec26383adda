package command

import (
	"math/bits"

	"github.com/sidecache/sidecache/glob"
	"github.com/sidecache/sidecache/protocol"
)

// COMMAND and its subcommands: enough for clients that introspect the server (COUNT, INFO,
// LIST, GETKEYS); DOCS is empty, and tips and key specs come later.

func cmdCommandCount(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendInt(out, int64(len(s.table)))
}

// flagNames are the COMMAND reply's flag names.
var flagNames = []struct {
	f    flag
	name string
}{
	{flagWrite, "write"}, {flagReadonly, "readonly"}, {flagDenyOOM, "denyoom"},
	{flagAdmin, "admin"}, {flagPubSub, "pubsub"}, {flagNoScript, "noscript"},
	{flagLoading, "loading"}, {flagStale, "stale"}, {flagSkipSlowlog, "skip_slowlog"}, {flagFast, "fast"},
	{flagNoAuth, "no_auth"}, {flagNoMulti, "no_multi"}, {flagAllowBusy, "allow_busy"},
}

// appendCommandInfo appends cmd's COMMAND INFO entry in Redis 7's shape: name, arity, flags,
// first key, last key, step, ACL categories (acl_category.go), tips, key specs, subcommands.
// Tips and key specs are empty for now.
func appendCommandInfo(out []byte, v protocol.Version, cmd *command) []byte {
	out = protocol.AppendArrayLen(out, 10)
	out = protocol.AppendBulkString(out, cmd.name)
	out = protocol.AppendInt(out, int64(cmd.arity))
	n := 0
	for _, fn := range flagNames {
		if cmd.flags&fn.f != 0 {
			n++
		}
	}
	out = protocol.AppendSetLen(out, v, n)
	for _, fn := range flagNames {
		if cmd.flags&fn.f != 0 {
			out = protocol.AppendSimple(out, fn.name)
		}
	}
	out = protocol.AppendInt(out, int64(cmd.firstKey))
	out = protocol.AppendInt(out, int64(cmd.lastKey))
	out = protocol.AppendInt(out, int64(cmd.keyStep))
	cats := commandCategories(cmd)
	out = protocol.AppendSetLen(out, v, bits.OnesCount32(uint32(cats)))
	for i, name := range categoryNames {
		if cats&(1<<i) != 0 {
			out = protocol.AppendSimple(out, "@"+name)
		}
	}
	out = protocol.AppendSetLen(out, v, 0)
	out = protocol.AppendArrayLen(out, 0)
	out = protocol.AppendArrayLen(out, len(cmd.subs))
	for _, name := range sortedNames(cmd.subs) {
		out = appendCommandInfo(out, v, cmd.subs[name])
	}
	return out
}

func sortedNames(m map[string]*command) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return names
}

// cmdCommand is COMMAND with no subcommand: every command's entry.
func cmdCommand(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	names := sortedNames(s.table)
	out = protocol.AppendArrayLen(out, len(names))
	for _, n := range names {
		out = appendCommandInfo(out, c.Proto, s.table[n])
	}
	return out
}

func cmdCommandInfo(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args) == 2 {
		return cmdCommand(s, c, args, now, out)
	}
	out = protocol.AppendArrayLen(out, len(args)-2)
	for _, name := range args[2:] {
		if cmd := s.lookupFull(name); cmd != nil {
			out = appendCommandInfo(out, c.Proto, cmd)
		} else {
			out = protocol.AppendNull(out, c.Proto)
		}
	}
	return out
}

// lookupFull finds "name" or "container|sub".
func (s *Server) lookupFull(name []byte) *command {
	for i, ch := range name {
		if ch == '|' {
			parent := lookup(s.table, name[:i])
			if parent == nil || parent.subs == nil {
				return nil
			}
			return lookup(parent.subs, name[i+1:])
		}
	}
	return lookup(s.table, name)
}

// cmdCommandDocs answers with no documentation (an empty map): clients such as redis-cli
// only use it for hints.
func cmdCommandDocs(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendMapLen(out, c.Proto, 0)
}

func cmdCommandList(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	var keep func(cmd *command) bool
	switch {
	case len(args) == 2:
		keep = func(*command) bool { return true }
	case len(args) != 5 || !eqFold(args[2], "filterby"):
		return appendErr(out, errSyntax)
	case eqFold(args[3], "aclcat"):
		cat := categoryByName(string(args[4])) // an unknown category matches nothing
		keep = func(cmd *command) bool { return cat != 0 && commandCategories(cmd)&cat != 0 }
	case eqFold(args[3], "pattern"):
		keep = func(cmd *command) bool { return glob.MatchString(string(args[4]), cmd.name, true) }
	case eqFold(args[3], "module"):
		keep = func(*command) bool { return false } // no modules
	default:
		return appendErr(out, errSyntax)
	}
	// Redis lists every command and subcommand by full name (a renamed command by its real
	// name), in its hash table's order; here containers come sorted, each before its
	// subcommands.
	var names []string
	for _, n := range sortedNames(s.table) {
		cmd := s.table[n]
		if keep(cmd) {
			names = append(names, cmd.name)
		}
		for _, sn := range sortedNames(cmd.subs) {
			if sub := cmd.subs[sn]; keep(sub) {
				names = append(names, sub.name)
			}
		}
	}
	out = protocol.AppendArrayLen(out, len(names))
	for _, n := range names {
		out = protocol.AppendBulkString(out, n)
	}
	return out
}

// cmdCommandGetKeys is COMMAND GETKEYS command [arg ...]: the key arguments, by the
// command's first key, last key and step.
func cmdCommandGetKeys(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	full := args[2:]
	cmd := lookup(s.table, full[0])
	if cmd != nil && cmd.subs != nil && len(full) >= 2 {
		cmd = lookup(cmd.subs, full[1])
	}
	switch {
	case cmd == nil:
		return appendErr(out, "ERR Invalid command specified")
	case cmd.firstKey == 0:
		return appendErr(out, "ERR The command has no key arguments")
	case !cmd.arityOK(len(full)):
		return appendErr(out, "ERR Invalid number of arguments specified for command")
	}
	last := cmd.lastKey
	if last < 0 {
		last += len(full)
	}
	n := 0
	for i := cmd.firstKey; i <= last && i < len(full); i += cmd.keyStep {
		n++
	}
	out = protocol.AppendArrayLen(out, n)
	for i := cmd.firstKey; i <= last && i < len(full); i += cmd.keyStep {
		out = protocol.AppendBulk(out, full[i])
	}
	return out
}

func cmdCommandHelp(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendHelp(out, "COMMAND", []string{
		"(no subcommand)",
		"    Return details about all Redis commands.",
		"COUNT",
		"    Return the total number of commands in this Redis server.",
		"LIST",
		"    Return a list of all commands in this Redis server.",
		"INFO [<command-name> ...]",
		"    Return details about multiple Redis commands.",
		"    If no command names are given, documentation details for all",
		"    commands are returned.",
		"DOCS [<command-name> ...]",
		"    Return documentation details about multiple Redis commands.",
		"    If no command names are given, documentation details for all",
		"    commands are returned.",
		"GETKEYS <full-command>",
		"    Return the keys from a full Redis command.",
	})
}
