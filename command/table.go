package command

import (
	"github.com/sidecache/sidecache/protocol"
)

// flag is a command property, as Redis's command flags.
type flag uint32

const (
	flagWrite    flag = 1 << iota // modifies the keyspace
	flagReadonly                  // reads the keyspace only
	flagDenyOOM                   // may grow memory: refused when over maxmemory
	flagAdmin                     // administrative
	flagPubSub
	flagNoScript
	flagLoading // allowed while loading
	flagStale
	flagFast   // O(1) or O(log N)
	flagNoAuth // allowed before AUTH (AUTH, HELLO, QUIT)
	flagAllowBusy
	flagProtected // refused unless enable-debug-command is yes (DEBUG)
	flagSkipSlowlog
	flagNoQueue // runs at once inside MULTI instead of being queued (multi.go)
	flagNoMulti // refused inside MULTI (Redis's no-multi: SAVE, SHUTDOWN, SYNC, PSYNC)
	// flagMayReplicate: not a write, yet held back by CLIENT PAUSE WRITE (Redis's
	// CMD_MAY_REPLICATE: PUBLISH, EVAL ...); COMMAND INFO does not show it (pause.go).
	flagMayReplicate
)

// handler executes one command whose name and arity were already checked. args are
// borrowed for the duration of the call; the reply is appended to out.
type handler func(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte

// command is an entry of the table. For a container (CLIENT, CONFIG, COMMAND) subs holds
// the subcommands; run, if set, handles the container called with no subcommand.
type command struct {
	name     string // lower case; a subcommand's is "container|sub", as Redis's fullname
	id       int    // index in Server.cmdList and in the statistics shards
	arity    int    // as Redis: n = exactly n arguments (name included), -n = at least n
	flags    flag
	firstKey int // position of the first key (0: no keys)
	lastKey  int // position of the last key; negative counts from the end
	keyStep  int
	run      handler
	subs     map[string]*command
}

// maxNameLen bounds the lookup buffer: longer names cannot be commands.
const maxNameLen = 32

// lookup finds name case-insensitively without allocating: the name is folded into a
// stack buffer and the map is indexed with a string conversion the compiler does not copy.
func lookup(m map[string]*command, name []byte) *command {
	if len(name) > maxNameLen {
		return nil
	}
	var buf [maxNameLen]byte
	for i, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	return m[string(buf[:len(name)])]
}

// arityOK reports whether n arguments satisfy arity.
func (cmd *command) arityOK(n int) bool {
	if cmd.arity >= 0 {
		return n == cmd.arity
	}
	return n >= -cmd.arity
}

// buildTable returns the command table. Arity, flags and key positions follow Redis 7.2's
// src/commands/*.json.
func buildTable() map[string]*command {
	const (
		w  = flagWrite
		r  = flagReadonly
		d  = flagDenyOOM
		f  = flagFast
		a  = flagAdmin
		ns = flagNoScript
		na = flagNoAuth
		ld = flagLoading
		st = flagStale
	)
	t := map[string]*command{}
	add := func(name string, arity int, fl flag, first, last, step int, run handler) *command {
		cmd := &command{name: name, arity: arity, flags: fl, firstKey: first, lastKey: last, keyStep: step, run: run}
		t[name] = cmd
		return cmd
	}
	sub := func(parent *command, name string, arity int, fl flag, first, last, step int, run handler) {
		if parent.subs == nil {
			parent.subs = map[string]*command{}
		}
		parent.subs[name] = &command{name: parent.name + "|" + name, arity: arity, flags: fl,
			firstKey: first, lastKey: last, keyStep: step, run: run}
	}

	// connection
	add("ping", -1, f, 0, 0, 0, cmdPing)
	add("echo", 2, f, 0, 0, 0, cmdEcho)
	add("quit", -1, na|ld|st|flagAllowBusy|ns|f|flagNoQueue, 0, 0, 0, cmdQuit)
	add("select", 2, ld|st|f, 0, 0, 0, cmdSelect)
	add("hello", -1, na|ld|st|ns|f|flagAllowBusy, 0, 0, 0, cmdHello)
	add("auth", -2, na|ld|st|ns|f|flagAllowBusy, 0, 0, 0, cmdAuth)
	client := add("client", -2, 0, 0, 0, 0, nil)
	sub(client, "id", 2, ns|ld|st, 0, 0, 0, cmdClientID)
	sub(client, "getname", 2, ns|ld|st, 0, 0, 0, cmdClientGetName)
	sub(client, "setname", 3, ns|ld|st, 0, 0, 0, cmdClientSetName)
	sub(client, "setinfo", 4, ns|ld|st, 0, 0, 0, cmdClientSetInfo)
	sub(client, "info", 2, ns|ld|st, 0, 0, 0, cmdClientInfo)
	sub(client, "list", -2, a|ns|ld|st, 0, 0, 0, cmdClientList)
	sub(client, "kill", -3, a|ns|ld|st, 0, 0, 0, cmdClientKill)
	sub(client, "no-evict", 3, a|ns|ld|st, 0, 0, 0, cmdClientNoEvict)
	sub(client, "help", 2, ld|st, 0, 0, 0, cmdClientHelp)
	sub(client, "pause", -3, a|ns|ld|st, 0, 0, 0, cmdClientPause)
	sub(client, "unpause", 2, a|ns|ld|st, 0, 0, 0, cmdClientUnpause)
	sub(client, "reply", 3, ns|ld|st, 0, 0, 0, cmdClientReply)
	sub(client, "no-touch", 3, ns|ld|st, 0, 0, 0, cmdClientNoTouch)
	sub(client, "unblock", -3, a|ns|ld|st, 0, 0, 0, cmdClientUnblock)
	sub(client, "getredir", 2, ns|ld|st, 0, 0, 0, cmdClientGetRedir)
	sub(client, "tracking", -3, ns|ld|st, 0, 0, 0, cmdClientTracking) // tracking.go
	sub(client, "caching", 3, ns|ld|st, 0, 0, 0, cmdClientCaching)
	sub(client, "trackinginfo", 2, ns|ld|st, 0, 0, 0, cmdClientTrackingInfo)
	add("reset", 1, ns|ld|st|f|na|flagAllowBusy|flagNoQueue, 0, 0, 0, cmdReset)
	add("readonly", 1, ld|st|f, 0, 0, 0, cmdClusterDisabled)
	add("readwrite", 1, ld|st|f, 0, 0, 0, cmdClusterDisabled)

	// strings
	add("get", 2, r|f, 1, 1, 1, cmdGet)
	add("set", -3, w|d, 1, 1, 1, cmdSet)
	add("setnx", 3, w|d|f, 1, 1, 1, cmdSetNX)
	add("setex", 4, w|d, 1, 1, 1, cmdSetEX)
	add("psetex", 4, w|d, 1, 1, 1, cmdPSetEX)
	add("mget", -2, r|f, 1, -1, 1, cmdMGet)
	add("mset", -3, w|d, 1, -1, 2, cmdMSet)
	add("msetnx", -3, w|d, 1, -1, 2, cmdMSetNX)
	add("getset", 3, w|d|f, 1, 1, 1, cmdGetSet)
	add("getdel", 2, w|f, 1, 1, 1, cmdGetDel)
	add("getex", -2, w|f, 1, 1, 1, cmdGetEx)
	add("append", 3, w|d|f, 1, 1, 1, cmdAppend)
	add("strlen", 2, r|f, 1, 1, 1, cmdStrlen)
	add("getrange", 4, r, 1, 1, 1, cmdGetRange)
	add("substr", 4, r, 1, 1, 1, cmdGetRange)
	add("setrange", 4, w|d, 1, 1, 1, cmdSetRange)
	add("incr", 2, w|d|f, 1, 1, 1, cmdIncr)
	add("decr", 2, w|d|f, 1, 1, 1, cmdDecr)
	add("incrby", 3, w|d|f, 1, 1, 1, cmdIncrBy)
	add("decrby", 3, w|d|f, 1, 1, 1, cmdDecrBy)
	add("incrbyfloat", 3, w|d|f, 1, 1, 1, cmdIncrByFloat)
	add("lcs", -3, r, 1, 2, 1, cmdLCS)

	// bitmaps
	add("setbit", 4, w|d, 1, 1, 1, cmdSetBit)
	add("getbit", 3, r|f, 1, 1, 1, cmdGetBit)
	add("bitcount", -2, r, 1, 1, 1, cmdBitCount)
	add("bitpos", -3, r, 1, 1, 1, cmdBitPos)
	add("bitop", -4, w|d, 2, -1, 1, cmdBitOp)
	add("bitfield", -2, w|d, 1, 1, 1, cmdBitField)
	add("bitfield_ro", -2, r|f, 1, 1, 1, cmdBitFieldRO)

	// transactions (multi.go, watch.go)
	add("multi", 1, ns|ld|st|f|flagAllowBusy|flagNoQueue, 0, 0, 0, cmdMulti)
	add("exec", 1, ns|ld|st|flagSkipSlowlog|flagNoQueue, 0, 0, 0, cmdExec)
	add("discard", 1, ns|ld|st|f|flagAllowBusy|flagNoQueue, 0, 0, 0, cmdDiscard)
	add("watch", -2, ns|ld|st|f|flagAllowBusy|flagNoQueue, 1, -1, 1, cmdWatch)
	add("unwatch", 1, ns|ld|st|f|flagAllowBusy, 0, 0, 0, cmdUnwatch)

	// hashes (hash.go)
	add("hset", -4, w|d|f, 1, 1, 1, cmdHSet)
	add("hsetnx", 4, w|d|f, 1, 1, 1, cmdHSetNX)
	add("hmset", -4, w|d|f, 1, 1, 1, cmdHMSet)
	add("hget", 3, r|f, 1, 1, 1, cmdHGet)
	add("hmget", -3, r|f, 1, 1, 1, cmdHMGet)
	add("hgetall", 2, r, 1, 1, 1, cmdHGetAll)
	add("hkeys", 2, r, 1, 1, 1, cmdHKeys)
	add("hvals", 2, r, 1, 1, 1, cmdHVals)
	add("hdel", -3, w|f, 1, 1, 1, cmdHDel)
	add("hexists", 3, r|f, 1, 1, 1, cmdHExists)
	add("hlen", 2, r|f, 1, 1, 1, cmdHLen)
	add("hstrlen", 3, r|f, 1, 1, 1, cmdHStrlen)
	add("hincrby", 4, w|d|f, 1, 1, 1, cmdHIncrBy)
	add("hincrbyfloat", 4, w|d|f, 1, 1, 1, cmdHIncrByFloat)
	add("hrandfield", -2, r, 1, 1, 1, cmdHRandField)
	add("hscan", -3, r, 1, 1, 1, cmdHScan)

	// keyspace
	add("del", -2, w, 1, -1, 1, cmdDel)
	add("unlink", -2, w|f, 1, -1, 1, cmdDel)
	add("exists", -2, r|f, 1, -1, 1, cmdExists)
	add("touch", -2, r|f, 1, -1, 1, cmdTouch)
	add("type", 2, r|f, 1, 1, 1, cmdType)
	add("dbsize", 1, r|f, 0, 0, 0, cmdDBSize)
	add("flushdb", -1, w, 0, 0, 0, cmdFlushDB)
	add("flushall", -1, w, 0, 0, 0, cmdFlushAll)
	add("keys", 2, r, 0, 0, 0, cmdKeys)
	add("scan", -2, r, 0, 0, 0, cmdScan)
	add("randomkey", 1, r, 0, 0, 0, cmdRandomKey)
	add("rename", 3, w, 1, 2, 1, cmdRename)
	add("renamenx", 3, w|f, 1, 2, 1, cmdRenameNX)
	add("swapdb", 3, w|f, 0, 0, 0, cmdSwapDB)
	add("move", 3, w|f, 1, 1, 1, cmdMove)
	add("copy", -3, w|d, 1, 2, 1, cmdCopy)

	// expiry
	add("expire", -3, w|f, 1, 1, 1, cmdExpire)
	add("pexpire", -3, w|f, 1, 1, 1, cmdPExpire)
	add("expireat", -3, w|f, 1, 1, 1, cmdExpireAt)
	add("pexpireat", -3, w|f, 1, 1, 1, cmdPExpireAt)
	add("ttl", 2, r|f, 1, 1, 1, cmdTTL)
	add("pttl", 2, r|f, 1, 1, 1, cmdPTTL)
	add("expiretime", 2, r|f, 1, 1, 1, cmdExpireTime)
	add("pexpiretime", 2, r|f, 1, 1, 1, cmdPExpireTime)
	add("persist", 2, w|f, 1, 1, 1, cmdPersist)

	// pub/sub
	ps := flagPubSub
	add("subscribe", -2, ps|ns|ld|st, 0, 0, 0, cmdSubscribe)
	add("psubscribe", -2, ps|ns|ld|st, 0, 0, 0, cmdPSubscribe)
	add("ssubscribe", -2, ps|ns|ld|st, 1, -1, 1, cmdSSubscribe)
	add("unsubscribe", -1, ps|ns|ld|st, 0, 0, 0, cmdUnsubscribe)
	add("punsubscribe", -1, ps|ns|ld|st, 0, 0, 0, cmdPUnsubscribe)
	add("sunsubscribe", -1, ps|ns|ld|st, 1, -1, 1, cmdSUnsubscribe)
	// may-replicate: CLIENT PAUSE WRITE holds them back (pause.go).
	add("publish", 3, ps|ld|st|f|flagMayReplicate, 0, 0, 0, cmdPublish)
	add("spublish", 3, ps|ld|st|f|flagMayReplicate, 1, 1, 1, cmdSPublish)
	pubsubCmd := add("pubsub", -2, 0, 0, 0, 0, nil)
	sub(pubsubCmd, "channels", -2, ps|ld|st, 0, 0, 0, cmdPubsubChannels)
	sub(pubsubCmd, "numpat", 2, ps|ld|st, 0, 0, 0, cmdPubsubNumPat)
	sub(pubsubCmd, "numsub", -2, ps|ld|st, 0, 0, 0, cmdPubsubNumSub)
	sub(pubsubCmd, "shardchannels", -2, ps|ld|st, 0, 0, 0, cmdPubsubShardChannels)
	sub(pubsubCmd, "shardnumsub", -2, ps|ld|st, 0, 0, 0, cmdPubsubShardNumSub)
	sub(pubsubCmd, "help", 2, ld|st, 0, 0, 0, cmdPubsubHelp)
	add("monitor", 1, a|ns|ld|st, 0, 0, 0, cmdMonitor)

	// server
	add("time", 1, ld|st|f, 0, 0, 0, cmdTime)
	add("info", -1, ld|st, 0, 0, 0, cmdInfo)
	cfg := add("config", -2, 0, 0, 0, 0, nil)
	sub(cfg, "get", -3, a|ns|ld|st, 0, 0, 0, cmdConfigGet)
	sub(cfg, "set", -4, a|ns|ld|st, 0, 0, 0, cmdConfigSet)
	sub(cfg, "resetstat", 2, a|ns|ld|st, 0, 0, 0, cmdConfigResetStat)
	sub(cfg, "help", 2, ld|st, 0, 0, 0, cmdConfigHelp)
	cmd := add("command", -1, ld|st, 0, 0, 0, cmdCommand)
	sub(cmd, "count", 2, ld|st, 0, 0, 0, cmdCommandCount)
	sub(cmd, "info", -2, ld|st, 0, 0, 0, cmdCommandInfo)
	sub(cmd, "docs", -2, ld|st, 0, 0, 0, cmdCommandDocs)
	sub(cmd, "list", -2, ld|st, 0, 0, 0, cmdCommandList)
	sub(cmd, "getkeys", -4, ld|st, 0, 0, 0, cmdCommandGetKeys)
	sub(cmd, "help", 2, ld|st, 0, 0, 0, cmdCommandHelp)
	slow := add("slowlog", -2, 0, 0, 0, 0, nil)
	sub(slow, "get", -2, a|ld|st, 0, 0, 0, cmdSlowlogGet)
	sub(slow, "len", 2, a|ld|st, 0, 0, 0, cmdSlowlogLen)
	sub(slow, "reset", 2, a|ld|st, 0, 0, 0, cmdSlowlogReset)
	sub(slow, "help", 2, ld|st, 0, 0, 0, cmdSlowlogHelp)
	lat := add("latency", -2, 0, 0, 0, 0, nil)
	sub(lat, "histogram", -2, a|ns|ld|st, 0, 0, 0, cmdLatencyHistogram)
	sub(lat, "latest", 2, a|ns|ld|st, 0, 0, 0, cmdLatencyEmpty)
	sub(lat, "history", 3, a|ns|ld|st, 0, 0, 0, cmdLatencyEmpty)
	sub(lat, "reset", -2, a|ns|ld|st, 0, 0, 0, cmdLatencyReset)
	sub(lat, "doctor", 2, a|ns|ld|st, 0, 0, 0, cmdLatencyDoctor)
	sub(lat, "graph", 3, a|ns|ld|st, 0, 0, 0, cmdLatencyGraph)
	sub(lat, "help", 2, ld|st, 0, 0, 0, cmdLatencyHelp)
	obj := add("object", -2, 0, 0, 0, 0, nil)
	sub(obj, "encoding", 3, r, 2, 2, 1, cmdObjectEncoding)
	sub(obj, "freq", 3, r, 2, 2, 1, cmdObjectFreq)
	sub(obj, "idletime", 3, r, 2, 2, 1, cmdObjectIdletime)
	sub(obj, "refcount", 3, r, 2, 2, 1, cmdObjectRefcount)
	sub(obj, "help", 2, ld|st, 0, 0, 0, cmdObjectHelp)
	mem := add("memory", -2, 0, 0, 0, 0, nil)
	sub(mem, "usage", -3, r, 2, 2, 1, cmdMemoryUsage)
	sub(mem, "stats", 2, 0, 0, 0, 0, cmdMemoryStats)
	sub(mem, "doctor", 2, 0, 0, 0, 0, cmdMemoryDoctor)
	sub(mem, "malloc-stats", 2, 0, 0, 0, 0, cmdMemoryMallocStats)
	sub(mem, "purge", 2, 0, 0, 0, 0, cmdMemoryPurge)
	sub(mem, "help", 2, ld|st, 0, 0, 0, cmdMemoryHelp)
	add("debug", -2, a|ns|ld|st|flagProtected, 0, 0, 0, cmdDebug)

	// ACL (acl_cmd.go, acl_log.go)
	acl := add("acl", -2, 0, 0, 0, 0, nil)
	sub(acl, "cat", -2, ns|ld|st, 0, 0, 0, cmdACLCat)
	sub(acl, "deluser", -3, a|ns|ld|st, 0, 0, 0, cmdACLDelUser)
	sub(acl, "dryrun", -4, a|ns|ld|st, 0, 0, 0, cmdACLDryRun)
	sub(acl, "genpass", -2, ns|ld|st, 0, 0, 0, cmdACLGenPass)
	sub(acl, "getuser", 3, a|ns|ld|st, 0, 0, 0, cmdACLGetUser)
	sub(acl, "list", 2, a|ns|ld|st, 0, 0, 0, cmdACLList)
	sub(acl, "load", 2, a|ns|ld|st, 0, 0, 0, cmdACLLoadSave)
	sub(acl, "log", -2, a|ns|ld|st, 0, 0, 0, cmdACLLog)
	sub(acl, "save", 2, a|ns|ld|st, 0, 0, 0, cmdACLLoadSave)
	sub(acl, "setuser", -3, a|ns|ld|st, 0, 0, 0, cmdACLSetUser)
	sub(acl, "users", 2, a|ns|ld|st, 0, 0, 0, cmdACLUsers)
	sub(acl, "whoami", 2, ns|ld|st, 0, 0, 0, cmdACLWhoAmI)
	sub(acl, "help", 2, ld|st, 0, 0, 0, cmdACLHelp)
	add("lastsave", 1, ld|st|f, 0, 0, 0, cmdLastSave)
	add("save", 1, a|ns|flagNoMulti, 0, 0, 0, cmdSave)
	add("bgsave", -1, a|ns, 0, 0, 0, cmdBgSave)
	add("bgrewriteaof", 1, a|ns, 0, 0, 0, cmdBgRewriteAOF)
	add("shutdown", -1, a|ns|ld|st|flagNoMulti|flagAllowBusy, 0, 0, 0, cmdShutdown)
	add("role", 1, ns|ld|st|f, 0, 0, 0, cmdRole)
	add("wait", 3, ns, 0, 0, 0, cmdWait)
	add("waitaof", 4, ns, 0, 0, 0, cmdWaitAOF)
	cluster := add("cluster", -2, 0, 0, 0, 0, nil)
	for _, sc := range clusterSubcommands {
		fl := st
		switch {
		case sc.name == "help":
			fl = ld | st
		case sc.admin:
			fl = a | st
		}
		sub(cluster, sc.name, sc.arity, fl, 0, 0, 0, cmdClusterDisabled)
	}
	return t
}

// appendUnknownCommand appends Redis's reply to an unknown command (server.c
// commandCheckExistence): the name and the first arguments, each cut at 128 bytes and at a
// NUL as C's "%.*s" does, CR and LF replaced by spaces.
func appendUnknownCommand(out []byte, args [][]byte) []byte {
	out = append(out, '-')
	start := len(out)
	out = append(out, "ERR unknown command '"...)
	out = append(out, cString(args[0], 128)...)
	out = append(out, "', with args beginning with: "...)
	argsStart := len(out)
	for i := 1; i < len(args) && len(out)-argsStart < 128; i++ {
		out = append(out, '\'')
		out = append(out, cString(args[i], 128-(len(out)-1-argsStart))...)
		out = append(out, "' "...)
	}
	sanitizeCRLF(out[start:])
	return append(out, "\r\n"...)
}

// appendUnknownSubcommand appends "ERR unknown subcommand 'x'. Try CLIENT HELP." with the
// container's name as the client sent it, upper-cased.
func appendUnknownSubcommand(out []byte, container, sub []byte) []byte {
	out = append(out, '-')
	start := len(out)
	out = append(out, "ERR unknown subcommand '"...)
	out = append(out, cString(sub, 128)...)
	out = append(out, "'. Try "...)
	for _, ch := range cString(container, len(container)) {
		if 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		out = append(out, ch)
	}
	out = append(out, " HELP."...)
	sanitizeCRLF(out[start:])
	return append(out, "\r\n"...)
}

// appendArityError appends "ERR wrong number of arguments for 'name' command".
func appendArityError(out []byte, name string) []byte {
	out = append(out, "-ERR wrong number of arguments for '"...)
	out = append(out, name...)
	return append(out, "' command\r\n"...)
}

// cString returns b as C's printf("%.*s", max, b) would print it: up to the first NUL,
// at most max bytes.
func cString(b []byte, max int) []byte {
	if max < 0 {
		max = 0
	}
	for i, ch := range b {
		if ch == 0 {
			b = b[:i]
			break
		}
	}
	if len(b) > max {
		b = b[:max]
	}
	return b
}

// sanitizeCRLF replaces CR and LF with spaces so an error line stays one line.
func sanitizeCRLF(b []byte) {
	for i, ch := range b {
		if ch == '\r' || ch == '\n' {
			b[i] = ' '
		}
	}
}

// appendErr appends an error reply; msg carries its prefix ("ERR ...").
func appendErr(out []byte, msg string) []byte { return protocol.AppendError(out, msg) }

// Reply texts shared by several commands.
const (
	errSyntax    = "ERR syntax error"
	errNotInt    = "ERR value is not an integer or out of range"
	errNotFloat  = "ERR value is not a valid float"
	errNoSuchKey = "ERR no such key"
	errNoAuth    = "NOAUTH Authentication required."
	errWrongPass = "WRONGPASS invalid username-password pair or user is disabled."
)

// appendExpireTimeError appends "ERR invalid expire time in 'set' command".
func appendExpireTimeError(out []byte, name string) []byte {
	out = append(out, "-ERR invalid expire time in '"...)
	out = append(out, name...)
	return append(out, "' command\r\n"...)
}
