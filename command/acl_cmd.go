package command

import (
	"crypto/rand"
	"encoding/hex"
	"sort"

	"github.com/sidecache/sidecache/protocol"
)

// The ACL command (Redis 7.2's aclCommand) and the login shared by AUTH and HELLO AUTH.

// logIn authenticates c as user/pass (AUTH, HELLO AUTH): on success c runs as that user from
// now on; a failure is counted and logged (ACL LOG) with cmdName, the command as sent.
func (s *Server) logIn(c *Client, cmdName, user, pass []byte) bool {
	u := s.checkPassword(user, pass)
	if u == nil {
		s.aclLogAdd(c, aclDeniedAuth, string(cmdName), string(user))
		return false
	}
	c.user.Store(u)
	c.authenticated = true
	return true
}

// defaultNoPass reports whether the default user is nopass: AUTH <password> then has nothing
// to check against.
func (s *Server) defaultNoPass() bool { return s.defaultUser.rules.Load().nopass }

func cmdACLSetUser(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	name := args[2]
	if hasSpaces(name) {
		return appendErr(out, "ERR Usernames can't contain spaces or null characters")
	}
	ops, bad, ok := mergeSelectorArgs(args[3:])
	if !ok {
		return appendErrText(out, "ERR Unmatched parenthesis in acl selector starting at '"+cstr(args[3+bad])+"'.")
	}
	s.aclMu.Lock()
	defer s.aclMu.Unlock()
	u := s.users[string(name)]
	var r *aclRules
	if u != nil {
		r = u.rules.Load().clone()
	} else {
		r = s.newRules()
	}
	// Every rule is applied to a copy: one bad rule changes nothing, as Redis's temporary user.
	for _, op := range ops {
		if e := s.aclSetUser(r, op); e != "" {
			return appendErrText(out, "ERR Error in ACL SETUSER modifier '"+cstr(op)+"': "+e)
		}
	}
	if u == nil {
		u = &aclUser{name: string(name)}
		s.users[u.name] = u
	}
	s.storeRules(u, r)
	return protocol.AppendSimple(out, "OK")
}

// cmdACLDelUser removes users and closes their connections, as Redis's
// ACLFreeUserAndKillClients: the caller's own connection closes after this reply.
func cmdACLDelUser(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	for _, name := range args[2:] {
		if string(name) == "default" {
			return appendErr(out, "ERR The 'default' user cannot be removed")
		}
	}
	var gone []*aclUser
	s.aclMu.Lock()
	for _, name := range args[2:] {
		u := s.users[string(name)]
		if u == nil {
			continue
		}
		delete(s.users, u.name)
		r := u.rules.Load().clone()
		r.deleted = true
		s.storeRules(u, r)
		gone = append(gone, u)
	}
	s.aclMu.Unlock()
	if len(gone) > 0 {
		s.clientsMu.Lock()
		var victims []*Client
		for _, cl := range s.clients {
			for _, u := range gone {
				if cl.user.Load() == u {
					victims = append(victims, cl)
				}
			}
		}
		s.clientsMu.Unlock()
		for _, cl := range victims {
			if cl == c {
				c.CloseAfterReply = true
			} else {
				cl.kill()
			}
		}
	}
	return protocol.AppendInt(out, int64(len(gone)))
}

// sortedUsers returns the users in name order (Redis keeps them in a radix tree).
func (s *Server) sortedUsers() []*aclUser {
	s.aclMu.Lock()
	l := make([]*aclUser, 0, len(s.users))
	for _, u := range s.users {
		l = append(l, u)
	}
	s.aclMu.Unlock()
	sort.Slice(l, func(i, j int) bool { return l[i].name < l[j].name })
	return l
}

func cmdACLList(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	users := s.sortedUsers()
	out = protocol.AppendArrayLen(out, len(users))
	for _, u := range users {
		out = protocol.AppendBulkString(out, "user "+u.name+" "+u.rules.Load().describe())
	}
	return out
}

func cmdACLUsers(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	users := s.sortedUsers()
	out = protocol.AppendArrayLen(out, len(users))
	for _, u := range users {
		out = protocol.AppendBulkString(out, u.name)
	}
	return out
}

func cmdACLWhoAmI(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendBulkString(out, c.userName())
}

// cmdACLGetUser answers flags, passwords (hashes), the root selector's commands, keys and
// channels, and the other selectors, as Redis 7.2.
func cmdACLGetUser(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	u := s.aclUserByName(args[2])
	if u == nil {
		return protocol.AppendNull(out, c.Proto)
	}
	r := u.rules.Load()
	out = protocol.AppendMapLen(out, c.Proto, 6)
	out = protocol.AppendBulkString(out, "flags")
	flags := r.flagNames()
	out = protocol.AppendSetLen(out, c.Proto, len(flags))
	for _, f := range flags {
		out = protocol.AppendBulkString(out, f)
	}
	out = protocol.AppendBulkString(out, "passwords")
	out = protocol.AppendArrayLen(out, len(r.passwords))
	for _, p := range r.passwords {
		out = protocol.AppendBulkString(out, p)
	}
	out = appendSelectorFields(out, &r.root)
	out = protocol.AppendBulkString(out, "selectors")
	out = protocol.AppendArrayLen(out, len(r.selectors))
	for i := range r.selectors {
		out = protocol.AppendMapLen(out, c.Proto, 3)
		out = appendSelectorFields(out, &r.selectors[i])
	}
	return out
}

func appendSelectorFields(out []byte, sel *aclSelector) []byte {
	out = protocol.AppendBulkString(out, "commands")
	out = protocol.AppendBulkString(out, sel.describeCommands())
	out = protocol.AppendBulkString(out, "keys")
	out = protocol.AppendBulkString(out, sel.keysString())
	out = protocol.AppendBulkString(out, "channels")
	return protocol.AppendBulkString(out, sel.channelsString())
}

// cmdACLCat lists the categories, or the commands of one (by full name, each container
// before its subcommands; Redis's order is its hash table's).
func cmdACLCat(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args) == 2 {
		out = protocol.AppendArrayLen(out, len(categoryNames))
		for _, n := range categoryNames {
			out = protocol.AppendBulkString(out, n)
		}
		return out
	}
	if len(args) > 3 {
		return appendSubcommandSyntaxError(out, args)
	}
	cat := categoryByName(string(args[2]))
	if cat == 0 {
		return appendErrText(out, "ERR Unknown category '"+string(cString(args[2], 128))+"'")
	}
	var names []string
	for _, name := range sortedNames(s.orig) {
		cmd := s.orig[name]
		if s.cats[cmd.id]&cat != 0 {
			names = append(names, cmd.name)
		}
		for _, sn := range sortedNames(cmd.subs) {
			if sub := cmd.subs[sn]; s.cats[sub.id]&cat != 0 {
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

// genpassMaxBits is Redis's GENPASS_MAX_BITS.
const genpassMaxBits = 4096

func cmdACLGenPass(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args) > 3 {
		return appendSubcommandSyntaxError(out, args)
	}
	bits := int64(256)
	if len(args) == 3 {
		n, ok := parseInt(args[2])
		if !ok {
			return appendErr(out, errNotInt)
		}
		bits = n
	}
	if bits <= 0 || bits > genpassMaxBits {
		return appendErr(out, "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
	}
	chars := (bits + 3) / 4
	raw := make([]byte, (chars+1)/2)
	if _, err := rand.Read(raw); err != nil {
		return appendErr(out, "ERR failed to read random bytes")
	}
	return protocol.AppendBulkString(out, hex.EncodeToString(raw)[:chars])
}

// cmdACLLoadSave answers ACL LOAD and ACL SAVE as a Redis without aclfile: users live in
// memory only.
func cmdACLLoadSave(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendErr(out, "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.")
}

// cmdACLDryRun is ACL DRYRUN user command [arg ...]: whether the user could run it, the
// refusal as a bulk string (Redis's verbose texts) or +OK.
func cmdACLDryRun(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	u := s.aclUserByName(args[2])
	if u == nil {
		return appendErrText(out, "ERR User '"+cstr(args[2])+"' not found")
	}
	run := args[3:]
	cmd := lookup(s.table, run[0])
	if cmd != nil && cmd.subs != nil && len(run) >= 2 {
		cmd = lookup(cmd.subs, run[1])
	}
	if cmd == nil {
		return appendErrText(out, "ERR Command '"+cstr(args[3])+"' not found")
	}
	if !cmd.arityOK(len(run)) {
		return appendArityError(out, cmd.name)
	}
	r := u.rules.Load()
	reason, idx := r.check(cmd, run)
	var msg string
	switch reason {
	case aclOK:
		return protocol.AppendSimple(out, "OK")
	case aclDeniedCmd:
		msg = "User " + u.name + " has no permissions to run the '" + cmd.name + "' command"
	case aclDeniedKey:
		msg = "User " + u.name + " has no permissions to access the '" + string(run[idx]) + "' key"
	default:
		msg = "User " + u.name + " has no permissions to access the '" + string(run[idx]) + "' channel"
	}
	return protocol.AppendBulkString(out, msg)
}

func cmdACLHelp(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendHelp(out, "ACL", []string{
		"CAT [<category>]",
		"    List all commands that belong to <category>, or all command categories",
		"    when no category is specified.",
		"DELUSER <username> [<username> ...]",
		"    Delete a list of users.",
		"DRYRUN <username> <command> [<arg> ...]",
		"    Returns whether the user can execute the given command without executing the command.",
		"GETUSER <username>",
		"    Get the user's details.",
		"GENPASS [<bits>]",
		"    Generate a secure 256-bit user password. The optional `bits` argument can",
		"    be used to specify a different size.",
		"LIST",
		"    Show users details in config file format.",
		"LOAD",
		"    Reload users from the ACL file.",
		"LOG [<count> | RESET]",
		"    Show the ACL log entries.",
		"SAVE",
		"    Save the current config to the ACL file.",
		"SETUSER <username> <attribute> [<attribute> ...]",
		"    Create or modify a user with the specified attributes.",
		"USERS",
		"    List all the registered usernames.",
		"WHOAMI",
		"    Return the current connection username.",
	})
}
