package command

import (
	"bytes"
	"strings"

	"github.com/sidecache/sidecache/config"
)

// The ACL rule language of ACL SETUSER, as Redis 7.2's ACLSetUser / ACLSetSelector, and the
// description ACL LIST and ACL GETUSER give back (ACLDescribeUser): user flags, passwords,
// then each selector's keys, channels and command rules, the latter kept in the order given
// with overridden rules dropped (7.2's command_rules).

// Texts of Redis's ACLSetUserStringError, by the errno ACLSetUser sets.
const (
	errACLUnknownName  = "Unknown command or category name in ACL" // ENOENT
	errACLSyntax       = "Syntax error"                            // EINVAL
	errACLKeyAfterAll  = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
	errACLChanAfterAll = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
	errACLNoSuchPass   = "The password you are trying to remove from the user does not exist"
	errACLBadHash      = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
	errACLSubFirstArg  = "Allowing first-arg of a subcommand is not supported"
)

// aclSetUser applies one rule to r and returns "" or the error text. r is a private copy
// (never one stored in a user) and aclMu is held, or r is not yet shared.
func (s *Server) aclSetUser(r *aclRules, op []byte) string {
	if len(op) == 0 {
		return "" // an empty rule does nothing
	}
	switch {
	case eqFold(op, "on"):
		r.enabled = true
	case eqFold(op, "off"):
		r.enabled = false
	case eqFold(op, "skip-sanitize-payload"):
		r.skipSanitize = true
	case eqFold(op, "sanitize-payload"):
		r.skipSanitize = false
	case eqFold(op, "nopass"):
		r.nopass = true
		r.passwords = nil
	case eqFold(op, "resetpass"):
		r.nopass = false
		r.passwords = nil
	case op[0] == '>' || op[0] == '#':
		h, ok := passwordHash(op)
		if !ok {
			return errACLBadHash
		}
		if !containsString(r.passwords, h) {
			r.passwords = append(r.passwords, h)
		}
		r.nopass = false
	case op[0] == '<' || op[0] == '!':
		h, ok := passwordHash(op)
		if !ok {
			return errACLBadHash
		}
		i := indexString(r.passwords, h)
		if i < 0 {
			return errACLNoSuchPass
		}
		r.passwords = append(r.passwords[:i:i], r.passwords[i+1:]...)
	case op[0] == '(' && op[len(op)-1] == ')':
		sel := s.newSelector()
		inner, _ := config.SplitArgs(string(op[1 : len(op)-1])) // unbalanced quotes: no rules, as sdssplitargs
		for _, a := range inner {
			if e := s.aclSetSelector(&sel, []byte(a)); e != "" {
				return e
			}
		}
		r.selectors = append(r.selectors, sel)
	case eqFold(op, "clearselectors"):
		r.selectors = nil
	case eqFold(op, "reset"):
		for _, o := range []string{"resetpass", "resetkeys", "resetchannels", "off", "sanitize-payload", "clearselectors", "-@all"} {
			s.aclSetUser(r, []byte(o))
		}
	default:
		return s.aclSetSelector(&r.root, op)
	}
	return ""
}

// passwordHash returns the hash a >pass, <pass (hashed here), #hash or !hash rule names.
func passwordHash(op []byte) (string, bool) {
	if op[0] == '>' || op[0] == '<' {
		return hashPassword(op[1:]), true
	}
	h := op[1:]
	if len(h) != 64 {
		return "", false
	}
	for _, ch := range h {
		if (ch < 'a' || ch > 'f') && (ch < '0' || ch > '9') {
			return "", false
		}
	}
	return string(h), true
}

// aclSetSelector applies a selector rule (commands, keys, channels) to sel.
func (s *Server) aclSetSelector(sel *aclSelector, op []byte) string {
	switch {
	case eqFold(op, "allkeys") || string(op) == "~*":
		sel.allKeys = true
		sel.keys = nil
	case eqFold(op, "resetkeys"):
		sel.allKeys = false
		sel.keys = nil
	case eqFold(op, "allchannels") || string(op) == "&*":
		sel.allChan = true
		sel.channels = nil
	case eqFold(op, "resetchannels"):
		sel.allChan = false
		sel.channels = nil
	case eqFold(op, "allcommands") || eqFold(op, "+@all"):
		for i := range sel.allowed {
			sel.allowed[i] = ^uint64(0)
		}
		sel.allCommands, sel.future = true, true
		sel.rules = ""
		sel.firstArgs = nil
	case eqFold(op, "nocommands") || eqFold(op, "-@all"):
		clear(sel.allowed)
		sel.allCommands, sel.future = false, false
		sel.rules = ""
		sel.firstArgs = nil
	case op[0] == '~' || op[0] == '%':
		return sel.addKeyPattern(op)
	case op[0] == '&':
		if sel.allChan {
			return errACLChanAfterAll
		}
		if hasSpaces(op[1:]) {
			return errACLSyntax
		}
		for _, ch := range sel.channels {
			if bytes.Equal(ch, op[1:]) {
				return ""
			}
		}
		sel.channels = append(sel.channels, bytes.Clone(op[1:]))
	case len(op) >= 2 && (op[0] == '+' || op[0] == '-') && op[1] == '@':
		cat := categoryByName(string(op[2:]))
		if cat == 0 {
			return errACLUnknownName
		}
		allow := op[0] == '+'
		sel.updateRules(string(op[1:]), allow)
		for _, cmd := range s.cmdList {
			if s.cats[cmd.id]&cat != 0 {
				sel.changePerm(cmd, allow)
			}
		}
	case op[0] == '+':
		return s.allowCommand(sel, op[1:])
	case op[0] == '-':
		cmd := s.aclLookup(op[1:])
		if cmd == nil {
			return errACLUnknownName
		}
		sel.changePerm(cmd, false)
		sel.updateRules(cmd.name, false)
	default:
		return errACLSyntax
	}
	return ""
}

// allowCommand applies +name: a command (with its subcommands), a subcommand
// ("config|get"), or a first argument of a command without subcommands ("select|0",
// deprecated in Redis but accepted).
func (s *Server) allowCommand(sel *aclSelector, name []byte) string {
	bar := bytes.LastIndexByte(name, '|')
	if bar < 0 {
		cmd := s.aclLookup(name)
		if cmd == nil {
			return errACLUnknownName
		}
		sel.changePerm(cmd, true)
		sel.updateRules(cmd.name, true)
		return ""
	}
	cmd := s.aclLookup(name[:bar])
	switch {
	case cmd == nil:
		return errACLUnknownName
	case strings.IndexByte(cmd.name, '|') >= 0:
		return errACLSubFirstArg
	case bar == len(name)-1:
		return errACLSyntax
	}
	if cmd.subs != nil {
		if cmd = s.aclLookup(name); cmd == nil {
			return errACLUnknownName
		}
		sel.changePerm(cmd, true)
	} else {
		arg := string(name[bar+1:])
		dup := false
		for _, a := range sel.firstArgs[cmd.id] {
			dup = dup || strings.EqualFold(a, arg)
		}
		if !dup {
			if sel.firstArgs == nil {
				sel.firstArgs = map[int][]string{}
			}
			sel.firstArgs[cmd.id] = append(sel.firstArgs[cmd.id], arg)
		}
	}
	sel.updateRules(string(name), true)
	return ""
}

// aclLookup finds "name" or "container|sub" in the table before renames, as Redis's
// ACLLookupCommand (strict: a command without subcommands followed by "|x" is not found).
func (s *Server) aclLookup(name []byte) *command {
	base, sub, hasSub := bytes.Cut(name, []byte("|"))
	cmd := lookup(s.orig, base)
	if !hasSub || cmd == nil {
		return cmd
	}
	if cmd.subs == nil || bytes.IndexByte(sub, '|') >= 0 {
		return nil
	}
	return lookup(cmd.subs, sub)
}

func (sel *aclSelector) addKeyPattern(op []byte) string {
	if sel.allKeys {
		return errACLKeyAfterAll
	}
	perm, off := uint8(aclRead|aclWrite), 1
	if op[0] == '%' {
		perm = 0
		ok := true
	flags:
		for ; off < len(op); off++ {
			switch {
			case (op[off] == 'R' || op[off] == 'r') && perm&aclRead == 0:
				perm |= aclRead
			case (op[off] == 'W' || op[off] == 'w') && perm&aclWrite == 0:
				perm |= aclWrite
			case op[off] == '~':
				off++
				break flags
			default:
				ok = false
				break flags
			}
		}
		if perm == 0 || !ok {
			return errACLSyntax
		}
	}
	pat := op[off:]
	if hasSpaces(pat) {
		return errACLSyntax
	}
	for i := range sel.keys {
		if bytes.Equal(sel.keys[i].pattern, pat) {
			sel.keys[i].perm |= perm
			return ""
		}
	}
	sel.keys = append(sel.keys, keyPattern{perm: perm, pattern: bytes.Clone(pat)})
	return ""
}

// changePerm is Redis's ACLChangeSelectorPerm: the command and all its subcommands.
func (sel *aclSelector) changePerm(cmd *command, allow bool) {
	sel.setBit(cmd.id, allow)
	delete(sel.firstArgs, cmd.id)
	for _, sub := range cmd.subs {
		sel.setBit(sub.id, allow)
	}
}

func (sel *aclSelector) setBit(id int, allow bool) {
	if allow {
		sel.allowed[id>>6] |= 1 << (id & 63)
		return
	}
	sel.allowed[id>>6] &^= 1 << (id & 63)
	sel.allCommands = false
}

// updateRules is Redis's ACLUpdateCommandRules: drop the rules the new one overrides (the
// same name, or a subcommand of it), then append it.
func (sel *aclSelector) updateRules(rule string, allow bool) {
	rule = strings.ToLower(rule)
	var b strings.Builder
	for _, old := range strings.Fields(sel.rules) {
		body := old[1:]
		if body == rule || (len(body) > len(rule) && body[:len(rule)] == rule && body[len(rule)] == '|') {
			continue
		}
		b.WriteString(old)
		b.WriteByte(' ')
	}
	if allow {
		b.WriteByte('+')
	} else {
		b.WriteByte('-')
	}
	b.WriteString(rule)
	sel.rules = b.String()
}

// hasSpaces is Redis's ACLStringHasSpaces: C's isspace, or NUL.
func hasSpaces(b []byte) bool {
	for _, ch := range b {
		if ch == 0 || ch == ' ' || (ch >= '\t' && ch <= '\r') {
			return true
		}
	}
	return false
}

// mergeSelectorArgs is Redis's ACLMergeSelectorArguments: a selector may be spread over
// several arguments ("(+get" "~k*)"), which are joined with spaces. bad is the index of the
// argument opening an unclosed selector.
func mergeSelectorArgs(args [][]byte) (merged [][]byte, bad int, ok bool) {
	open := -1
	var sel []byte
	for j, op := range args {
		if open == -1 && len(op) > 0 && op[0] == '(' && op[len(op)-1] != ')' {
			sel = append([]byte(nil), op...)
			open = j
			continue
		}
		if open != -1 {
			sel = append(append(sel, ' '), op...)
			if len(op) > 0 && op[len(op)-1] == ')' {
				merged = append(merged, sel)
				open = -1
			}
			continue
		}
		merged = append(merged, op)
	}
	if open != -1 {
		return nil, open, false
	}
	return merged, 0, true
}

// describe is ACL LIST's form of the user after "user name ": flags, #passwords, the root
// selector, then each other selector in parentheses.
func (r *aclRules) describe() string {
	var b strings.Builder
	for _, f := range r.flagNames() {
		b.WriteString(f)
		b.WriteByte(' ')
	}
	for _, p := range r.passwords {
		b.WriteByte('#')
		b.WriteString(p)
		b.WriteByte(' ')
	}
	b.WriteString(r.root.describe())
	for i := range r.selectors {
		b.WriteString(" (")
		b.WriteString(r.selectors[i].describe())
		b.WriteByte(')')
	}
	return b.String()
}

// flagNames are the user's flags in Redis's ACLUserFlags order.
func (r *aclRules) flagNames() []string {
	f := make([]string, 0, 3)
	if r.enabled {
		f = append(f, "on")
	} else {
		f = append(f, "off")
	}
	if r.nopass {
		f = append(f, "nopass")
	}
	if r.skipSanitize {
		f = append(f, "skip-sanitize-payload")
	} else {
		f = append(f, "sanitize-payload")
	}
	return f
}

// describe is Redis's ACLDescribeSelector: keys, channels, command rules.
func (sel *aclSelector) describe() string {
	var b strings.Builder
	if sel.allKeys {
		b.WriteString("~* ")
	} else {
		for _, k := range sel.keys {
			b.WriteString(k.String())
			b.WriteByte(' ')
		}
	}
	if sel.allChan {
		b.WriteString("&* ")
	} else {
		b.WriteString("resetchannels ")
		for _, ch := range sel.channels {
			b.WriteByte('&')
			b.Write(ch)
			b.WriteByte(' ')
		}
	}
	b.WriteString(sel.describeCommands())
	return b.String()
}

// describeCommands is ACLDescribeSelectorCommandRules: +@all or -@all, then the rules.
func (sel *aclSelector) describeCommands() string {
	base := "-@all"
	if sel.future {
		base = "+@all"
	}
	if sel.rules == "" {
		return base
	}
	return base + " " + sel.rules
}

// keysString is ACL GETUSER's "keys": ~* or the patterns.
func (sel *aclSelector) keysString() string {
	if sel.allKeys {
		return "~*"
	}
	parts := make([]string, len(sel.keys))
	for i, k := range sel.keys {
		parts[i] = k.String()
	}
	return strings.Join(parts, " ")
}

// channelsString is ACL GETUSER's "channels": &* or the patterns.
func (sel *aclSelector) channelsString() string {
	if sel.allChan {
		return "&*"
	}
	parts := make([]string, len(sel.channels))
	for i, ch := range sel.channels {
		parts[i] = "&" + string(ch)
	}
	return strings.Join(parts, " ")
}

func (k keyPattern) String() string {
	switch k.perm {
	case aclRead:
		return "%R~" + string(k.pattern)
	case aclWrite:
		return "%W~" + string(k.pattern)
	}
	return "~" + string(k.pattern)
}

func containsString(l []string, v string) bool { return indexString(l, v) >= 0 }

func indexString(l []string, v string) int {
	for i, x := range l {
		if x == v {
			return i
		}
	}
	return -1
}
