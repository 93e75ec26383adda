// Package command is the command table and the handlers that map RESP arguments to engine
// calls and append replies; it holds per-connection state (db, RESP version, name).
package command

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// Options wire a Server.
type Options struct {
	Engine  *engine.Engine
	Config  *config.Config
	Version string // sidecache_version for INFO
	// NetStats, if set, supplies netpoll's byte and rejection counters for INFO.
	NetStats func() NetStats
	// Barrier, if set, isolates EXEC from the other event loops (multi.go); the network
	// layer may also install it with SetBarrier.
	Barrier Barrier
	// Shutdown, if set, starts the process's graceful shutdown as SIGTERM does (SHUTDOWN);
	// it must return at once.
	Shutdown func()
}

// Server executes commands for all connections. Safe for concurrent use by all event loops.
type Server struct {
	eng     *engine.Engine
	cfg     *config.Config
	version string
	table   map[string]*command

	started time.Time

	// pass is requirepass, kept here so the per-command auth check reads an atomic instead
	// of the config registry.
	pass atomic.Pointer[string]

	nextID atomic.Int64

	// The client registry is touched on connect and close only (and by CLIENT LIST / INFO).
	clientsMu        sync.Mutex
	clients          map[int64]*Client
	releasedCommands int64 // commands of clients that closed; under clientsMu

	connectionsReceived atomic.Int64
	peak                atomic.Int64 // highest used_memory INFO has seen
	netStats            func() NetStats

	// statsBase is the engine's counters at the last CONFIG RESETSTAT; INFO shows the
	// difference. commandsBase likewise for total_commands_processed.
	statsMu      sync.Mutex
	statsBase    engine.Stats
	commandsBase int64
	netBase      NetStats // netpoll's counters at the last CONFIG RESETSTAT (netStatsSinceReset)

	statsState // command statistics and the slow log (stats.go)
	txState    // transactions: the Barrier and the watched keys (multi.go, watch.go)
	trackState // client-side caching (tracking.go)
	shrinkState

	// wakes lists the clients whose pushes, made under an engine lock, wait for their
	// wake-up (wake.go).
	wakes wakeList

	pubsubState // channels, patterns and MONITOR clients (pubsub.go, monitor.go)

	aclState // users and their permissions (acl.go); the table before rename-command (rename.go)

	pauseState // CLIENT PAUSE (pause.go)
	adminState // SHUTDOWN (server_admin.go)
	upState    // upstream mode: the keyspace is a central Redis's (upstream.go)
}

// NewServer returns a Server.
func NewServer(o Options) *Server {
	s := &Server{
		eng:     o.Engine,
		cfg:     o.Config,
		version: o.Version,
		table:   buildTable(),
		started: time.Now(),
		clients: map[int64]*Client{},

		netStats: o.NetStats,
	}
	s.barrier = o.Barrier
	s.shutdownFn = o.Shutdown
	s.loadPass()
	s.initStats()
	s.initTracking()
	s.applyRenames() // after initStats: every command, renamed away or not, has an id
	s.initACL()
	s.initPubSub()
	if s.eng != nil {
		s.eng.SetOnChange(s.keyChanged)
	}
	if s.cfg != nil {
		if s.cfg.Lookup("requirepass") != nil {
			s.cfg.OnChange("requirepass", func(*config.Config) { s.loadPass() })
		}
		// CONFIG SET of maxmemory and the eviction settings takes effect in the engine at
		// once (maxmemory holds bytes: "auto" is resolved when parsed); see memory.go.
		s.wireMemory()
		s.wireHash() // hash-max-listpack-entries / -value (hash.go)
	}
	return s
}

// loadPass caches requirepass.
func (s *Server) loadPass() {
	p := ""
	if s.cfg != nil {
		if st := s.cfg.Lookup("requirepass"); st != nil {
			p = st.String() // CONFIG GET redacts it; String does not
		}
	}
	s.pass.Store(&p)
}

// requirePass returns requirepass ("" when none is set).
func (s *Server) requirePass() string { return *s.pass.Load() }

func (s *Server) nowMs() int64 { return time.Now().UnixMilli() }

// db returns the client's selected database (its no-touch view under CLIENT NO-TOUCH).
func (s *Server) db(c *Client) *engine.DB {
	if c.noTouch.Load() {
		return s.eng.DBNoTouch(c.DB)
	}
	return s.eng.DB(c.DB)
}

// Exec runs one command and appends its reply to out. args are borrowed (valid only during
// the call); now is ms since the epoch, read once per batch. Nothing is allocated on the hot
// path (GET, SET, INCR, MGET).
//
// The checks run in Redis's order (server.c processCommand): unknown command, unknown
// subcommand, arity, then authentication.
//
// Invalidations the command produced under engine locks are queued; their wake-ups are
// issued before Exec returns, once no lock is held (wake.go).
func (s *Server) Exec(c *Client, args [][]byte, now int64, out []byte) []byte {
	c.Postponed, c.Deferred = false, false
	if c.replyFlags != 0 { // CLIENT REPLY OFF or SKIP (client_modes.go)
		out = s.execQuiet(c, args, now, time.Time{}, out)
	} else {
		out = s.exec(c, args, now, time.Time{}, out)
	}
	s.FlushWakes()
	return out
}

// ExecTimed is Exec for a command that makes up a whole batch, which started at start: the
// command is timed from there, always (see stats.go), at the cost of one clock read.
func (s *Server) ExecTimed(c *Client, args [][]byte, now int64, start time.Time, out []byte) []byte {
	c.Postponed, c.Deferred = false, false
	if c.replyFlags != 0 {
		out = s.execQuiet(c, args, now, start, out)
	} else {
		out = s.exec(c, args, now, start, out)
	}
	s.FlushWakes()
	return out
}

func (s *Server) exec(c *Client, args [][]byte, now int64, t0 time.Time, out []byte) []byte {
	if len(args) == 0 {
		return out
	}
	if c.track.tc.Load() != nil && !c.postponed { // once per command, not per retry (pause.go)
		s.trackNext(c, args)
	}
	start := len(out)
	cmd := lookup(s.table, args[0])
	if cmd == nil {
		if s.up != nil && len(args[0]) > 0 {
			return s.upUnknown(c, args, now, out) // upstream.go
		}
		out = appendUnknownCommand(out, args)
		s.countError(c.stats, out[start:])
		c.tx.refused()
		return out
	}
	if cmd.subs != nil && len(args) >= 2 {
		sub := lookup(cmd.subs, args[1])
		if sub == nil {
			out = appendUnknownSubcommand(out, args[0], args[1])
			s.countError(c.stats, out[start:])
			c.tx.refused()
			return out
		}
		cmd = sub
	}
	if !cmd.arityOK(len(args)) {
		out = appendArityError(out, cmd.name)
		return s.refuse(c, cmd, out, start)
	}
	if !c.authenticated && cmd.flags&flagNoAuth == 0 && s.authRequired() {
		// As Redis's authRequired: once the default user has no password again, clients
		// that never authenticated need not.
		out = appendErr(out, errNoAuth)
		return s.refuse(c, cmd, out, start)
	}
	// ACL: one branch for a user who may run anything (the default user, usually).
	if r := c.user.Load().rules.Load(); !r.unrestricted {
		if o, refused := s.aclRefuse(c, r, cmd, args, out); refused {
			return s.refuse(c, cmd, o, start)
		}
	}
	if cmd.flags&flagProtected != 0 && !s.debugEnabled {
		out = appendErr(out, errDebugDisabled)
		return s.refuse(c, cmd, out, start)
	}
	if (cmd.flags&flagDenyOOM != 0 || c.tx.on && c.tx.oomApplies(cmd)) && s.denyOOM() {
		out = appendErr(out, errOOMText)
		return s.refuse(c, cmd, out, start)
	}
	if c.sub.gate { // subscribed in RESP2, or MONITOR (pubsub.go)
		if msg := gateError(c, cmd); msg != "" {
			out = appendErrText(out, msg)
			return s.refuse(c, cmd, out, start)
		}
	}
	// CLIENT PAUSE holds the command back, before MULTI would queue it (pause.go).
	if (c.postponed || s.pauseKind.Load() != pauseOff) && s.postpone(c, cmd, now) {
		c.lastName.Store(cmd)
		c.Postponed = true
		return out
	}
	c.lastCmd.Store(now)
	c.lastName.Store(cmd)
	if c.tx.on && cmd.flags&flagNoQueue == 0 {
		return s.queue(c, cmd, args, out)
	}
	c.sub.top = cmd
	if !statsEnabled {
		out = s.run(c, cmd, args, now, out)
		s.afterRun(c, cmd, args)
		c.commands.Store(c.commands.Load() + 1)
		return out
	}
	var w uint64
	if !t0.IsZero() {
		w = 1
	} else if w = s.timing(c, cmd, len(args)); w != 0 {
		t0 = time.Now()
	}
	out = s.run(c, cmd, args, now, out)
	s.afterRun(c, cmd, args)
	s.afterCall(c, cmd, args, out[start:], t0, w)
	// After the command, as Redis's call(): INFO does not count itself. Only c's loop
	// writes the counter: a load and a store, no locked add.
	c.commands.Store(c.commands.Load() + 1)
	return out
}

// appendEngineErr appends the reply for an error returned by the engine: its text is
// already Redis's (engine.ErrWrongType is "WRONGTYPE Operation against ...").
func appendEngineErr(out []byte, err error) []byte {
	return protocol.AppendError(out, err.Error())
}
