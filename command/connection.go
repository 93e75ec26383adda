package command

import (
	"math"
	"strconv"

	"github.com/sidecache/sidecache/protocol"
)

// Connection commands.

func cmdPing(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args) > 2 {
		return appendArityError(out, "ping")
	}
	if c.sub.gate && c.Proto == protocol.RESP2 && c.IsPubSub() {
		return appendSubscribedPong(out, args) // ["pong", arg] (pubsub.go)
	}
	if len(args) == 1 {
		return protocol.AppendSimple(out, "PONG")
	}
	return protocol.AppendBulk(out, args[1])
}

func cmdEcho(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendBulk(out, args[1])
}

func cmdQuit(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	c.CloseAfterReply = true
	return protocol.AppendSimple(out, "OK")
}

func cmdSelect(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	id, ok := parseInt(args[1])
	if !ok {
		return appendErr(out, errNotInt)
	}
	if id < math.MinInt32 || id > math.MaxInt32 { // getIntFromObjectOrReply's range check
		return appendErr(out, "ERR value is out of range, value must between -2147483648 and 2147483647")
	}
	if id < 0 || id >= int64(s.eng.NumDBs()) {
		return appendErr(out, "ERR DB index is out of range")
	}
	c.DB = int(id)
	return protocol.AppendSimple(out, "OK")
}

func cmdAuth(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args) > 3 {
		return appendErr(out, errSyntax)
	}
	// Users and passwords are ACL's (acl.go); the default user's password is requirepass.
	if len(args) == 2 {
		if s.defaultNoPass() {
			return appendErr(out, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		}
		if !s.logIn(c, args[0], []byte("default"), args[1]) {
			return appendErr(out, errWrongPass)
		}
	} else if !s.logIn(c, args[0], args[1], args[2]) {
		return appendErr(out, errWrongPass)
	}
	return protocol.AppendSimple(out, "OK")
}

// cmdHello is helloCommand: version, then AUTH and SETNAME options, authentication, the
// name, and finally the switch of protocol and the server map in the new protocol.
func cmdHello(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	var ver int64
	next := 1
	if len(args) >= 2 {
		v, ok := parseInt(args[1])
		if !ok {
			return appendErr(out, "ERR Protocol version is not an integer or out of range")
		}
		if v < 2 || v > 3 {
			return appendErr(out, "NOPROTO unsupported protocol version")
		}
		ver = v
		next = 2
	}
	var user, pass, name []byte
	hasName := false
	for j := next; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case eqFold(args[j], "auth") && more >= 2:
			user, pass = args[j+1], args[j+2]
			j += 2
		case eqFold(args[j], "setname") && more >= 1:
			name = args[j+1]
			hasName = true
			j++
		default:
			return appendErrText(out, "ERR Syntax error in HELLO option '"+cstr(args[j])+"'")
		}
	}
	if user != nil && !s.logIn(c, args[0], user, pass) {
		return appendErr(out, errWrongPass)
	}
	if !c.authenticated {
		// Redis 7.2's text; 7.0 says "the HELLO AUTH <user> <pass> option".
		return appendErr(out, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
	}
	if hasName {
		if msg := checkClientName(name); msg != "" {
			return appendErr(out, msg)
		}
		c.setAttr(&c.name, name)
	}
	if ver != 0 {
		c.Proto = protocol.Version(ver)
	}
	out = protocol.AppendMapLen(out, c.Proto, 7)
	out = protocol.AppendBulkString(out, "server")
	out = protocol.AppendBulkString(out, "redis")
	out = protocol.AppendBulkString(out, "version")
	out = protocol.AppendBulkString(out, redisVersion)
	out = protocol.AppendBulkString(out, "proto")
	out = protocol.AppendInt(out, int64(c.Proto))
	out = protocol.AppendBulkString(out, "id")
	out = protocol.AppendInt(out, c.ID)
	out = protocol.AppendBulkString(out, "mode")
	out = protocol.AppendBulkString(out, "standalone")
	out = protocol.AppendBulkString(out, "role")
	out = protocol.AppendBulkString(out, "master")
	out = protocol.AppendBulkString(out, "modules")
	return protocol.AppendArrayLen(out, 0)
}

// redisVersion is the Redis version we report (HELLO, INFO) for client feature detection.
const redisVersion = "7.2.0"

// checkClientName returns "" if name may be a client name, else the error text.
func checkClientName(name []byte) string {
	if !validClientAttr(name) {
		return "ERR Client names cannot contain spaces, newlines or special characters."
	}
	if len(name) > maxClientAttrLen {
		return "ERR Client name is too long"
	}
	return ""
}

func cmdClientID(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendInt(out, c.ID)
}

func cmdClientGetName(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	c.attrMu.Lock()
	defer c.attrMu.Unlock()
	if len(c.name) == 0 {
		return protocol.AppendNull(out, c.Proto)
	}
	return protocol.AppendBulk(out, c.name)
}

func cmdClientSetName(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if msg := checkClientName(args[2]); msg != "" {
		return appendErr(out, msg)
	}
	c.setAttr(&c.name, args[2])
	return protocol.AppendSimple(out, "OK")
}

// cmdClientSetInfo is Redis 7.2's CLIENT SETINFO LIB-NAME|LIB-VER value.
func cmdClientSetInfo(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	attr, val := args[2], args[3]
	var dst *[]byte
	switch {
	case eqFold(attr, "lib-name"):
		dst = &c.libName
	case eqFold(attr, "lib-ver"):
		dst = &c.libVer
	default:
		return appendErrText(out, "ERR Unrecognized option '"+cstr(attr)+"'")
	}
	if !validClientAttr(val) || len(val) > maxClientAttrLen {
		return appendErrText(out, "ERR "+cstr(attr)+" cannot contain spaces, newlines or special characters.")
	}
	c.setAttr(dst, val)
	return protocol.AppendSimple(out, "OK")
}

// appendClientLine appends the CLIENT INFO line of c, the client running the command.
func (s *Server) appendClientLine(dst []byte, c *Client, now int64) []byte {
	return s.appendClientInfo(dst, c, c, now)
}

// appendClientInfo appends c's CLIENT LIST line (without the newline), with the fields
// Redis 7.2 prints, as self, the client running the command, sees it. qbuf, omem and
// tot-mem are what the network layer last published (SetMemory); the buffer fields it has
// no counterpart for are 0. Another client's loop may be changing its state meanwhile:
// only its atomics are read (db and resp as of its last command), and self's own fields.
func (s *Server) appendClientInfo(dst []byte, c, self *Client, now int64) []byte {
	db, proto := int64(c.dbPub.Load()), int64(c.ProtoAtomic())
	if c == self {
		db, proto = int64(c.DB), int64(c.Proto) // current inside MULTI ... EXEC too
	}
	dst = append(dst, "id="...)
	dst = strconv.AppendInt(dst, c.ID, 10)
	dst = append(dst, " addr="...)
	dst = append(dst, c.Addr...)
	dst = append(dst, " laddr="...)
	dst = append(dst, c.LAddr...)
	dst = append(dst, " fd=0 name="...)
	c.attrMu.Lock()
	dst = append(dst, c.name...)
	c.attrMu.Unlock()
	age := (now - c.Created) / 1000
	idle := (now - c.lastCmd.Load()) / 1000
	if age < 0 {
		age = 0
	}
	if idle < 0 {
		idle = 0
	}
	dst = append(dst, " age="...)
	dst = strconv.AppendInt(dst, age, 10)
	dst = append(dst, " idle="...)
	dst = strconv.AppendInt(dst, idle, 10)
	dst = append(dst, " flags="...)
	// Redis's flag letters in its order; N when none applies.
	nflags := len(dst)
	if c.sub.monitor.Load() {
		dst = append(dst, 'O') // MONITOR
	}
	if c.IsPubSub() {
		dst = append(dst, 'P') // subscribed
	}
	if c.tx.pub.Load() > 0 {
		dst = append(dst, 'x') // in MULTI
	}
	if c.blocked.Load() {
		dst = append(dst, 'b') // a client pause holds its command back
	}
	dst = appendTrackingFlags(dst, c) // t, R, B (tracking.go)
	if c.tx.dirty.Load() {
		dst = append(dst, 'd') // a watched key changed
	}
	if c.Unix {
		dst = append(dst, 'U')
	}
	if c.noEvict.Load() {
		dst = append(dst, 'e')
	}
	if c.noTouch.Load() {
		dst = append(dst, 'T')
	}
	if len(dst) == nflags {
		dst = append(dst, 'N')
	}
	dst = append(dst, " db="...)
	dst = strconv.AppendInt(dst, db, 10)
	dst = c.sub.appendCounts(dst)
	dst = append(dst, " multi="...)
	dst = strconv.AppendInt(dst, c.tx.pub.Load()-1, 10) // queued commands, -1 outside MULTI
	dst = append(dst, " qbuf="...)
	dst = strconv.AppendInt(dst, c.qbuf.Load(), 10)
	dst = append(dst, " qbuf-free=0 argv-mem=0 multi-mem="...)
	dst = strconv.AppendInt(dst, c.tx.mem.Load(), 10)
	dst = append(dst, " rbs=0 rbp=0 obl=0 oll=0 omem="...)
	dst = strconv.AppendInt(dst, c.omem.Load(), 10)
	dst = append(dst, " tot-mem="...)
	dst = strconv.AppendInt(dst, c.totMem.Load(), 10)
	dst = append(dst, " events=r cmd="...)
	if cmd := c.lastName.Load(); cmd != nil {
		dst = append(dst, cmd.name...)
	} else {
		dst = append(dst, "NULL"...)
	}
	dst = append(dst, " user="...)
	dst = append(dst, c.userName()...)
	dst = append(dst, " redir="...)
	dst = strconv.AppendInt(dst, trackRedirect(c), 10)
	dst = append(dst, " resp="...)
	dst = strconv.AppendInt(dst, proto, 10)
	c.attrMu.Lock()
	dst = append(dst, " lib-name="...)
	dst = append(dst, c.libName...)
	dst = append(dst, " lib-ver="...)
	dst = append(dst, c.libVer...)
	c.attrMu.Unlock()
	return dst
}

func cmdClientInfo(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	buf := s.appendClientLine(c.scratch[:0], c, now)
	buf = append(buf, '\n')
	out = protocol.AppendVerbatim(out, c.Proto, "txt", buf)
	c.keepScratch(buf)
	return out
}

// cmdClientList is CLIENT LIST [TYPE type | ID id ...], with Redis's checks in its order:
// TYPE only as the one option, ID with at least one id.
func cmdClientList(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	var ids []int64
	typ := -1
	switch {
	case len(args) == 4 && eqFold(args[2], "type"):
		t, ok := clientTypeByName(args[3])
		if !ok {
			return appendUnknownClientType(out, args[3])
		}
		typ = t
	case len(args) > 3 && eqFold(args[2], "id"):
		for _, a := range args[3:] {
			id, ok := parseInt(a)
			if !ok {
				return appendErr(out, "ERR Invalid client ID")
			}
			ids = append(ids, id)
		}
	case len(args) != 2:
		return appendErr(out, errSyntax)
	}
	s.clientsMu.Lock()
	list := make([]*Client, 0, len(s.clients))
	if ids == nil {
		for _, cl := range s.clients {
			list = append(list, cl)
		}
	} else {
		for _, id := range ids {
			if cl, ok := s.clients[id]; ok {
				list = append(list, cl)
			}
		}
	}
	s.clientsMu.Unlock()
	if ids == nil {
		sortClients(list)
	}
	buf := c.scratch[:0]
	for _, cl := range list {
		if typ >= 0 && cl.clientType() != typ {
			continue
		}
		buf = s.appendClientInfo(buf, cl, c, now)
		buf = append(buf, '\n')
	}
	out = protocol.AppendVerbatim(out, c.Proto, "txt", buf)
	c.keepScratch(buf)
	return out
}

// sortClients orders clients by ID, as Redis lists them (oldest first).
func sortClients(l []*Client) {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j].ID < l[j-1].ID; j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

// clientHelp is Redis 7.2's CLIENT HELP text in its order, each group with the subcommand
// it describes: cmdClientHelp shows the groups of the subcommands the table has, so those
// registered by other parts of the server (client-side caching) appear with them. KILL and
// LIST describe the filters this server has.
var clientHelp = []struct {
	sub   string
	lines []string
}{
	{"caching", []string{"CACHING (YES|NO)",
		"    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes."}},
	{"getredir", []string{"GETREDIR",
		"    Return the client ID we are redirecting to when tracking is enabled."}},
	{"getname", []string{"GETNAME", "    Return the name of the current connection."}},
	{"id", []string{"ID", "    Return the ID of the current connection."}},
	{"info", []string{"INFO", "    Return information about the current client connection."}},
	{"kill", []string{"KILL <ip:port>",
		"    Kill connection made from <ip:port>.",
		"KILL <option> <value> [<option> <value> [...]]",
		"    Kill connections. Options are:",
		"    * ADDR (<ip:port>|<unixsocket>:0)",
		"      Kill connections made from the specified address",
		"    * LADDR (<ip:port>|<unixsocket>:0)",
		"      Kill connections made to specified local address",
		"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
		"      Kill connections by type.",
		"    * USER <username>",
		"      Kill connections authenticated by <username>.",
		"    * SKIPME (YES|NO)",
		"      Skip killing current connection (default: yes).",
		"    * ID <client-id>",
		"      Kill connections by client id.",
		"    * MAXAGE <maxage>",
		"      Kill connections older than the specified age."}},
	{"list", []string{"LIST [options ...]",
		"    Return information about client connections. Options:",
		"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
		"      Return clients of specified type."}},
	{"unpause", []string{"UNPAUSE", "    Stop the current client pause, resuming traffic."}},
	{"pause", []string{"PAUSE <timeout> [WRITE|ALL]",
		"    Suspend all, or just write, clients for <timeout> milliseconds."}},
	{"reply", []string{"REPLY (ON|OFF|SKIP)", "    Control the replies sent to the current connection."}},
	{"setname", []string{"SETNAME <name>", "    Assign the name <name> to the current connection."}},
	{"setinfo", []string{"SETINFO <option> <value>",
		"    Set client meta attr. Options are:",
		"    * LIB-NAME: the client lib name.",
		"    * LIB-VER: the client lib version."}},
	{"unblock", []string{"UNBLOCK <clientid> [TIMEOUT|ERROR]", "    Unblock the specified blocked client."}},
	{"tracking", []string{"TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
		"         [OPTIN] [OPTOUT] [NOLOOP]",
		"    Control server assisted client side caching."}},
	{"trackinginfo", []string{"TRACKINGINFO", "    Report tracking status for the current connection."}},
	{"no-evict", []string{"NO-EVICT (ON|OFF)", "    Protect current client connection from eviction."}},
	{"no-touch", []string{"NO-TOUCH (ON|OFF)", "    Will not touch LRU/LFU stats when this mode is on."}},
}

func cmdClientHelp(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	var subs map[string]*command
	if cmd := lookup(s.table, args[0]); cmd != nil {
		subs = cmd.subs
	}
	var lines []string
	for _, g := range clientHelp {
		if _, ok := subs[g.sub]; ok {
			lines = append(lines, g.lines...)
		}
	}
	return appendHelp(out, "CLIENT", lines)
}

// appendHelp is addReplyHelp: a header line, the lines, and the HELP line, as status replies.
func appendHelp(out []byte, name string, lines []string) []byte {
	out = protocol.AppendArrayLen(out, len(lines)+3)
	out = append(out, '+')
	out = append(out, name...)
	out = append(out, " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"...)
	for _, l := range lines {
		out = protocol.AppendSimple(out, l)
	}
	out = protocol.AppendSimple(out, "HELP")
	return protocol.AppendSimple(out, "    Prints this help.")
}
