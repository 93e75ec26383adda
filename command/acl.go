package command

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync"
	"sync/atomic"

	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/glob"
)

// ACL users, as Redis 7.2's acl.c: each user has flags (on/off, nopass), SHA-256 password
// hashes and selectors (a root one and any number in parentheses); a selector allows commands
// (a bitset over command ids), key patterns and channel patterns. Users live in memory only:
// there is no ACL file.
//
// A user's rules are an immutable aclRules value that ACL SETUSER replaces as a whole (under
// aclMu), so the permission check on every event loop reads them without a lock. The check
// costs one branch for a user who may run anything on any key (aclRules.unrestricted), the
// default user's usual state; everyone else takes the slow path (aclRefuse), which allocates
// nothing unless it refuses.

// aclUser is a user; the pointer identifies the user for as long as it exists (clients hold it).
type aclUser struct {
	name  string
	rules atomic.Pointer[aclRules]
}

// aclRules is a user's state at one time. Never modified once stored in aclUser.rules.
type aclRules struct {
	// unrestricted: the root selector allows every command, key and channel. The one field
	// the hot path reads.
	unrestricted bool
	// deleted: ACL DELUSER removed the user; its connections are being closed.
	deleted bool

	enabled      bool // "on": AUTH may log in as the user
	nopass       bool // any password is accepted
	skipSanitize bool // skip-sanitize-payload (kept and shown only: there is no RESTORE)
	passwords    []string
	root         aclSelector
	selectors    []aclSelector // the ones in parentheses, in the order added
}

// aclSelector is Redis's aclSelector.
type aclSelector struct {
	allCommands bool // SELECTOR_FLAG_ALLCOMMANDS: no bit test at all
	// future is Redis's reserved "future commands" bit: set by +@all, cleared by -@all, and
	// what ACL LIST starts the command rules with (+@all or -@all).
	future    bool
	allowed   []uint64         // bit per command id
	firstArgs map[int][]string // +select|0: first arguments allowed when the bit is clear
	rules     string           // Redis 7.2's command_rules: the +/- rules in order
	allKeys   bool             // ~* or allkeys
	keys      []keyPattern     // when !allKeys
	allChan   bool             // &* or allchannels
	channels  [][]byte         // when !allChan
}

// keyPattern is a ~pattern, %R~pattern or %W~pattern.
type keyPattern struct {
	perm    uint8 // aclRead | aclWrite
	pattern []byte
}

const (
	aclRead  = 1
	aclWrite = 2
)

// Results of a permission check, ordered as Redis's ACL_DENIED_*: when no selector allows a
// command, the highest reason is reported.
const (
	aclOK = iota
	aclDeniedCmd
	aclDeniedKey
	aclDeniedAuth
	aclDeniedChannel
)

// aclState is the Server's part.
type aclState struct {
	// orig is the command table before rename-command (rename.go): ACL rules and ACL CAT
	// name commands by their real names, as Redis's orig_commands.
	orig map[string]*command

	aclMu       sync.Mutex
	users       map[string]*aclUser // under aclMu
	defaultUser *aclUser
	aclWords    int           // uint64 words of a command bitset
	cats        []aclCategory // ACL categories by command id
	aclLog      aclLog

	// authNeeded: the default user has passwords (not nopass) or is off, so a new
	// connection is not authenticated (Redis's authRequired).
	authNeeded atomic.Bool

	// INFO's acl_access_denied_* counters (Redis 7.2).
	deniedAuth, deniedCmd, deniedKey, deniedChannel atomic.Int64
}

// initACL creates the default user (+@all ~* &* on nopass, then requirepass) and keeps its
// password in step with requirepass. Called by NewServer once commands have ids.
func (s *Server) initACL() {
	s.aclWords = (len(s.cmdList) + 63) / 64
	s.cats = make([]aclCategory, len(s.cmdList))
	for _, cmd := range s.cmdList {
		s.cats[cmd.id] = commandCategories(cmd)
	}
	s.users = map[string]*aclUser{}
	u := &aclUser{name: "default"}
	r := s.newRules()
	for _, op := range []string{"+@all", "~*", "&*", "on", "nopass"} {
		s.aclSetUser(r, []byte(op))
	}
	s.storeRules(u, r)
	s.users[u.name] = u
	s.defaultUser = u
	s.syncRequirePass()
	if s.cfg != nil && s.cfg.Lookup("requirepass") != nil {
		s.cfg.OnChange("requirepass", func(*config.Config) { s.syncRequirePass() })
	}
}

// syncRequirePass sets the default user's password to requirepass, as Redis's
// ACLUpdateDefaultUserPassword: resetpass, then >pass, or nopass when it is empty.
func (s *Server) syncRequirePass() {
	pass := ""
	if s.cfg != nil {
		if st := s.cfg.Lookup("requirepass"); st != nil {
			pass = st.String() // not s.requirePass(): its hook may run after this one
		}
	}
	s.aclMu.Lock()
	defer s.aclMu.Unlock()
	r := s.defaultUser.rules.Load().clone()
	s.aclSetUser(r, []byte("resetpass"))
	if pass != "" {
		s.aclSetUser(r, append([]byte{'>'}, pass...))
	} else {
		s.aclSetUser(r, []byte("nopass"))
	}
	s.storeRules(s.defaultUser, r)
}

// newRules returns a new user's state: off, sanitize-payload, no password, no keys, no
// channels (acl-pubsub-default resetchannels), no commands.
func (s *Server) newRules() *aclRules {
	return &aclRules{root: s.newSelector()}
}

func (s *Server) newSelector() aclSelector {
	return aclSelector{allowed: make([]uint64, s.aclWords)}
}

// storeRules publishes r as u's rules; aclMu must be held (or u not yet shared).
func (s *Server) storeRules(u *aclUser, r *aclRules) {
	root := &r.root
	r.unrestricted = !r.deleted && root.allCommands && root.allKeys && root.allChan
	u.rules.Store(r)
	if u == s.defaultUser {
		s.authNeeded.Store(!r.nopass || !r.enabled)
	}
}

// authRequired reports whether a new connection must authenticate (Redis's authRequired for
// a client that has not).
func (s *Server) authRequired() bool { return s.authNeeded.Load() }

func (r *aclRules) clone() *aclRules {
	n := *r
	n.unrestricted, n.deleted = false, false
	n.passwords = append([]string(nil), r.passwords...)
	n.root = r.root.clone()
	n.selectors = make([]aclSelector, len(r.selectors))
	for i := range r.selectors {
		n.selectors[i] = r.selectors[i].clone()
	}
	return &n
}

func (sel *aclSelector) clone() aclSelector {
	n := *sel
	n.allowed = append([]uint64(nil), sel.allowed...)
	n.keys = append([]keyPattern(nil), sel.keys...)
	n.channels = append([][]byte(nil), sel.channels...)
	if sel.firstArgs != nil {
		n.firstArgs = make(map[int][]string, len(sel.firstArgs))
		for id, a := range sel.firstArgs {
			n.firstArgs[id] = append([]string(nil), a...)
		}
	}
	return n
}

// hashPassword is Redis's ACLHashPassword: SHA-256, lowercase hex.
func hashPassword(pass []byte) string {
	sum := sha256.Sum256(pass)
	return hex.EncodeToString(sum[:])
}

// aclUserByName returns the user called name (case-sensitive, as Redis), or nil.
func (s *Server) aclUserByName(name []byte) *aclUser {
	s.aclMu.Lock()
	defer s.aclMu.Unlock()
	return s.users[string(name)]
}

// checkPassword checks user/pass as Redis's ACLCheckUserCredentials: the user must exist and
// be on, and be nopass or have a password whose hash matches (compared in constant time).
func (s *Server) checkPassword(user, pass []byte) *aclUser {
	u := s.aclUserByName(user)
	if u != nil {
		r := u.rules.Load()
		if r.enabled && !r.deleted {
			if r.nopass {
				return u
			}
			h := []byte(hashPassword(pass))
			ok := 0
			for _, p := range r.passwords {
				ok |= subtle.ConstantTimeCompare(h, []byte(p))
			}
			if ok == 1 {
				return u
			}
		}
	}
	return nil
}

// userName is the name of the user c is authenticated as ("default" until AUTH). Safe from
// any goroutine.
func (c *Client) userName() string { return c.user.Load().name }

// aclRefuse is the slow path of the permission check in exec, for a user that is not
// unrestricted: it appends the refusal and reports whether the command may not run.
func (s *Server) aclRefuse(c *Client, r *aclRules, cmd *command, args [][]byte, out []byte) ([]byte, bool) {
	if r.deleted {
		// Redis resets such a client to the unauthenticated default user while it closes.
		return appendErr(out, errNoAuth), true
	}
	reason, idx := r.check(cmd, args)
	if reason == aclOK {
		return out, false
	}
	object := cmd.name
	if reason != aclDeniedCmd {
		object = string(args[idx])
	}
	s.aclLogAdd(c, reason, object, c.userName())
	switch reason {
	case aclDeniedCmd:
		out = append(out, "-NOPERM User "...)
		out = append(out, c.userName()...)
		out = append(out, " has no permissions to run the '"...)
		out = append(out, cmd.name...)
		return append(out, "' command\r\n"...), true
	case aclDeniedKey:
		return append(out, "-NOPERM No permissions to access a key\r\n"...), true
	default:
		return append(out, "-NOPERM No permissions to access a channel\r\n"...), true
	}
}

// aclExecRefuse is the check EXEC makes again before each queued command, as Redis's
// execCommand: the rules may have changed since the command was queued. It appends Redis's
// refusal and reports whether the command may not run.
func (s *Server) aclExecRefuse(c *Client, cmd *command, args [][]byte, out []byte) ([]byte, bool) {
	r := c.user.Load().rules.Load()
	if r.unrestricted {
		return out, false
	}
	reason, idx := aclDeniedCmd, 0
	if !r.deleted {
		if reason, idx = r.check(cmd, args); reason == aclOK {
			return out, false
		}
	}
	object := cmd.name
	if reason != aclDeniedCmd {
		object = string(args[idx])
	}
	s.aclLogAdd(c, reason, object, c.userName())
	why := "no permission to execute the command or subcommand"
	switch reason {
	case aclDeniedKey:
		why = "no permission to touch the specified keys"
	case aclDeniedChannel:
		why = "no permission to access one of the channels used as arguments"
	}
	out = append(out, "-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: "...)
	return append(append(out, why...), "\r\n"...), true
}

// check is Redis's ACLCheckAllUserCommandPerm: the command may run if any selector allows it;
// otherwise the reason is the highest of the selectors' (the last argument at fault among
// equals), with the index of the argument at fault (0 for the command itself).
func (r *aclRules) check(cmd *command, args [][]byte) (reason, idx int) {
	reason, idx = r.root.check(cmd, args)
	if reason == aclOK {
		return aclOK, 0
	}
	for i := range r.selectors {
		rs, ri := r.selectors[i].check(cmd, args)
		if rs == aclOK {
			return aclOK, 0
		}
		if rs > reason || (rs == reason && ri > idx) {
			reason, idx = rs, ri
		}
	}
	return reason, idx
}

// check is Redis's ACLSelectorCheckCmd: the command bit (or an allowed first argument), then
// every key, then every channel.
func (sel *aclSelector) check(cmd *command, args [][]byte) (int, int) {
	if !sel.allCommands && cmd.flags&flagNoAuth == 0 && !sel.bit(cmd.id) {
		allowed := false
		if len(args) >= 2 {
			for _, a := range sel.firstArgs[cmd.id] {
				if eqFold(args[1], a) {
					allowed = true
					break
				}
			}
		}
		if !allowed {
			return aclDeniedCmd, 0
		}
	}
	if !sel.allKeys && cmd.firstKey > 0 {
		// Without Redis's key specs, a read-only command needs read access to its keys and
		// any other needs read and write: never more permissive than Redis, stricter for a
		// command that only writes (DEL, SET) under a %W~ pattern.
		need := uint8(aclRead | aclWrite)
		if cmd.flags&flagReadonly != 0 {
			need = aclRead
		}
		last := cmd.lastKey
		if last < 0 {
			last += len(args)
		}
		for i := cmd.firstKey; i <= last && i < len(args); i += cmd.keyStep {
			if !sel.keyAllowed(args[i], need) {
				return aclDeniedKey, i
			}
			if cmd.keyStep <= 0 {
				break
			}
		}
	}
	if !sel.allChan {
		first, all, pattern := channelArgs(cmd.name)
		for i := first; first > 0 && i < len(args); i++ {
			if !sel.channelAllowed(args[i], pattern) {
				return aclDeniedChannel, i
			}
			if !all {
				break
			}
		}
	}
	return aclOK, 0
}

func (sel *aclSelector) bit(id int) bool {
	return id>>6 < len(sel.allowed) && sel.allowed[id>>6]&(1<<(id&63)) != 0
}

func (sel *aclSelector) keyAllowed(key []byte, need uint8) bool {
	for _, p := range sel.keys {
		if p.perm&need == need && glob.Match(p.pattern, key, false) {
			return true
		}
	}
	return false
}

// channelAllowed is Redis's ACLCheckChannelAgainstList: a channel is matched against the
// patterns, a PSUBSCRIBE pattern only literally.
func (sel *aclSelector) channelAllowed(ch []byte, isPattern bool) bool {
	for _, p := range sel.channels {
		if isPattern {
			if bytes.Equal(p, ch) {
				return true
			}
		} else if glob.Match(p, ch, false) {
			return true
		}
	}
	return false
}

// channelArgs says where a command's channels are, as Redis's channel specs for the commands
// whose channels ACL checks (publish and subscribe; never unsubscribe): first is the
// position of the first (0: none), all whether every later argument is one too, pattern
// whether they are patterns (PSUBSCRIBE).
func channelArgs(name string) (first int, all, pattern bool) {
	switch name {
	case "publish", "spublish":
		return 1, false, false
	case "subscribe", "ssubscribe":
		return 1, true, false
	case "psubscribe":
		return 1, true, true
	}
	return 0, false, false
}
