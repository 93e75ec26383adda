package command

import (
	"github.com/sidecache/sidecache/protocol"
)

// CLIENT KILL and CLIENT NO-EVICT: administration of other connections.

// Client types, Redis's CLIENT_TYPE_*: the classes of CLIENT KILL TYPE and CLIENT LIST
// TYPE. This server has no replication, so its clients are normal or pubsub.
const (
	clientNormal = iota
	clientReplica
	clientPubSub
	clientMaster
)

// clientTypeByName is Redis's getClientTypeByName; false for an unknown name.
func clientTypeByName(name []byte) (int, bool) {
	switch {
	case eqFold(name, "normal"):
		return clientNormal, true
	case eqFold(name, "slave"), eqFold(name, "replica"):
		return clientReplica, true
	case eqFold(name, "pubsub"):
		return clientPubSub, true
	case eqFold(name, "master"):
		return clientMaster, true
	}
	return 0, false
}

// clientType is Redis's getClientType: pubsub while subscribed to anything (a channel, a
// pattern or a shard channel, in RESP2 or RESP3), else normal; a MONITOR client is normal,
// as Redis exposes it. Safe from any goroutine.
func (c *Client) clientType() int {
	if c.IsPubSub() {
		return clientPubSub
	}
	return clientNormal
}

// appendUnknownClientType is the error for a TYPE Redis does not know.
func appendUnknownClientType(out, name []byte) []byte {
	return appendErrText(out, "ERR Unknown client type '"+cstr(name)+"'")
}

// killFilter is the set of CLIENT KILL filters; a zero field matches every client.
type killFilter struct {
	id          int64
	typ         int // a client type + 1; 0 matches every type
	addr, laddr []byte
	maxAge      int64 // seconds; a client matches when it is at least this old
	user        *aclUser
	skipMe      bool
}

// matches reports whether cl passes every filter; self is the client running the command.
func (f *killFilter) matches(cl, self *Client, now int64) bool {
	switch {
	case f.id != 0 && cl.ID != f.id:
		return false
	case f.typ != 0 && cl.clientType() != f.typ-1:
		return false
	case f.addr != nil && cl.Addr != string(f.addr):
		return false
	case f.laddr != nil && cl.LAddr != string(f.laddr):
		return false
	case f.skipMe && cl == self:
		return false
	case f.maxAge != 0 && (now-cl.Created)/1000 < f.maxAge:
		return false
	case f.user != nil && cl.user.Load() != f.user:
		return false
	}
	return true
}

// cmdClientKill is clientKillCommand. The old form (one ip:port) answers +OK or "No such
// client" and spares nobody, the caller included; the filter form answers how many clients
// it closed and skips the caller unless SKIPME no. TYPE pubsub matches the subscribed
// clients, normal every other (MONITOR clients too); replica and master match none, there
// being no replication. USER names an ACL user. MAXAGE is Redis 7.4's.
//
// Another client is closed through its connection's closer, from this goroutine, whatever
// loop owns it; the caller, if it matches, is closed after this reply (as QUIT).
func cmdClientKill(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	f := killFilter{skipMe: true}
	oldForm := len(args) == 3
	if oldForm {
		f.addr = args[2]
		f.skipMe = false
	} else {
		for i := 2; i < len(args); i += 2 {
			if i+1 >= len(args) {
				return appendErr(out, errSyntax)
			}
			opt, v := args[i], args[i+1]
			switch {
			case eqFold(opt, "id"):
				id, ok := parseInt(v)
				if !ok || id <= 0 {
					return appendErr(out, "ERR client-id should be greater than 0")
				}
				f.id = id
			case eqFold(opt, "type"):
				typ, ok := clientTypeByName(v)
				if !ok {
					return appendUnknownClientType(out, v)
				}
				f.typ = typ + 1
			case eqFold(opt, "addr"):
				f.addr = v
			case eqFold(opt, "laddr"):
				f.laddr = v
			case eqFold(opt, "user"):
				if f.user = s.aclUserByName(v); f.user == nil {
					return appendErrText(out, "ERR No such user '"+cstr(v)+"'")
				}
			case eqFold(opt, "skipme"):
				switch {
				case eqFold(v, "yes"):
					f.skipMe = true
				case eqFold(v, "no"):
					f.skipMe = false
				default:
					return appendErr(out, errSyntax)
				}
			case eqFold(opt, "maxage"):
				// Texts and the "at least as old" match are clientKillCommand's since
				// Redis 7.4 (kept verbatim in Valkey's src/networking.c).
				age, ok := parseInt(v)
				if !ok {
					return appendErr(out, "ERR maxage is not an integer or out of range")
				}
				if age <= 0 {
					return appendErr(out, "ERR maxage should be greater than 0")
				}
				f.maxAge = age
			default:
				return appendErr(out, errSyntax)
			}
		}
	}

	killed := int64(0)
	s.clientsMu.Lock()
	victims := make([]*Client, 0, 4)
	for _, cl := range s.clients {
		if f.matches(cl, c, now) {
			victims = append(victims, cl)
		}
	}
	s.clientsMu.Unlock()
	for _, cl := range victims {
		killed++
		if cl == c {
			c.CloseAfterReply = true
		} else {
			cl.kill()
		}
	}
	if oldForm {
		if killed == 0 {
			return appendErr(out, "ERR No such client")
		}
		return protocol.AppendSimple(out, "OK")
	}
	return protocol.AppendInt(out, killed)
}

// cmdClientNoEvict is CLIENT NO-EVICT ON|OFF.
func cmdClientNoEvict(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	switch {
	case eqFold(args[2], "on"):
		c.noEvict.Store(true)
	case eqFold(args[2], "off"):
		c.noEvict.Store(false)
	default:
		return appendErr(out, errSyntax)
	}
	return protocol.AppendSimple(out, "OK")
}
