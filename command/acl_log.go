package command

import (
	"sync"

	"github.com/sidecache/sidecache/protocol"
)

// ACL LOG, as Redis 7.2's: the latest refusals (commands, keys, channels) and failed logins,
// most recent first; a refusal like one of the last 10 within a minute bumps that entry's
// count instead of adding one.

// aclLogMaxLen is Redis's acllog-max-len default (not a setting here).
const aclLogMaxLen = 128

// aclLogGroupMs is Redis's ACL_LOG_GROUPING_MAX_TIME_DELTA.
const aclLogGroupMs = 60000

type aclLogEntry struct {
	count    int64
	reason   int    // aclDenied*
	context  string // "toplevel" or "multi"
	object   string // command full name, key, channel, or the AUTH / HELLO as sent
	username string
	ctime    int64  // ms since the epoch, last update
	cinfo    string // the client's CLIENT LIST line at the last update
	id       int64
	created  int64 // ms since the epoch
}

type aclLog struct {
	mu      sync.Mutex
	entries []*aclLogEntry // most recent first
	nextID  int64
}

// aclLogAdd records a refusal of c: context "multi" while c queues a transaction or EXEC
// runs it, as Redis's ACL_LOG_CTX_MULTI.
func (s *Server) aclLogAdd(c *Client, reason int, object, username string) {
	context := "toplevel"
	if c.tx.on {
		context = "multi"
	}
	// INFO's acl_access_denied_* count what is logged, as Redis's ACLUpdateInfoMetrics.
	switch reason {
	case aclDeniedAuth:
		s.deniedAuth.Add(1)
	case aclDeniedCmd:
		s.deniedCmd.Add(1)
	case aclDeniedKey:
		s.deniedKey.Add(1)
	default:
		s.deniedChannel.Add(1)
	}
	now := s.nowMs()
	cinfo := string(s.appendClientLine(nil, c, now))
	l := &s.aclLog
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i < len(l.entries) && i < 10; i++ {
		e := l.entries[i]
		d := e.ctime - now
		if d < 0 {
			d = -d
		}
		if e.reason == reason && e.context == context && e.object == object && e.username == username && d <= aclLogGroupMs {
			e.count++
			e.ctime = now
			e.cinfo = cinfo
			copy(l.entries[1:i+1], l.entries[:i])
			l.entries[0] = e
			return
		}
	}
	e := &aclLogEntry{count: 1, reason: reason, context: context, object: object, username: username,
		ctime: now, cinfo: cinfo, id: l.nextID, created: now}
	l.nextID++
	if len(l.entries) < aclLogMaxLen {
		l.entries = append(l.entries, nil)
	}
	copy(l.entries[1:], l.entries)
	l.entries[0] = e
}

var aclReasonNames = [...]string{aclDeniedCmd: "command", aclDeniedKey: "key", aclDeniedAuth: "auth", aclDeniedChannel: "channel"}

// cmdACLLog is ACL LOG [count | RESET].
func cmdACLLog(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args) > 3 {
		return appendSubcommandSyntaxError(out, args)
	}
	count := 10
	l := &s.aclLog
	if len(args) == 3 {
		if eqFold(args[2], "reset") {
			l.mu.Lock()
			l.entries = nil
			l.mu.Unlock()
			return protocol.AppendSimple(out, "OK")
		}
		n, ok := parseInt(args[2])
		if !ok {
			return appendErr(out, errNotInt)
		}
		count = int(max(0, min(n, aclLogMaxLen)))
	}
	now = s.nowMs() // entries carry the clock of their refusal, not of this batch
	l.mu.Lock()
	defer l.mu.Unlock()
	count = min(count, len(l.entries))
	out = protocol.AppendArrayLen(out, count)
	for _, e := range l.entries[:count] {
		out = protocol.AppendMapLen(out, c.Proto, 10)
		out = protocol.AppendBulkString(out, "count")
		out = protocol.AppendInt(out, e.count)
		out = protocol.AppendBulkString(out, "reason")
		out = protocol.AppendBulkString(out, aclReasonNames[e.reason])
		out = protocol.AppendBulkString(out, "context")
		out = protocol.AppendBulkString(out, e.context)
		out = protocol.AppendBulkString(out, "object")
		out = protocol.AppendBulkString(out, e.object)
		out = protocol.AppendBulkString(out, "username")
		out = protocol.AppendBulkString(out, e.username)
		out = protocol.AppendBulkString(out, "age-seconds")
		out = protocol.AppendDouble(out, c.Proto, float64(now-e.ctime)/1000)
		out = protocol.AppendBulkString(out, "client-info")
		out = protocol.AppendBulkString(out, e.cinfo)
		out = protocol.AppendBulkString(out, "entry-id")
		out = protocol.AppendInt(out, e.id)
		out = protocol.AppendBulkString(out, "timestamp-created")
		out = protocol.AppendInt(out, e.created)
		out = protocol.AppendBulkString(out, "timestamp-last-updated")
		out = protocol.AppendInt(out, e.ctime)
	}
	return out
}
