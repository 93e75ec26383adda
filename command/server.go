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

	statsState // command statistics and the slow log (stats.go)
	shrinkState
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
	s.loadPass()
	s.initStats()
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

// db returns the client's selected database.
func (s *Server) db(c *Client) *engine.DB { return s.eng.DB(c.DB) }

// Exec runs one command and appends its reply to out. args are borrowed (valid only during
// the call); now is ms since the epoch, read once per batch. Nothing is allocated on the hot
// path (GET, SET, INCR, MGET).
//
// The checks run in Redis's order (server.c processCommand): unknown command, unknown
// subcommand, arity, then authentication.
func (s *Server) Exec(c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.exec(c, args, now, time.Time{}, out)
}

// ExecTimed is Exec for a command that makes up a whole batch, which started at start: the
// command is timed from there, always (see stats.go), at the cost of one clock read.
func (s *Server) ExecTimed(c *Client, args [][]byte, now int64, start time.Time, out []byte) []byte {
	return s.exec(c, args, now, start, out)
}

func (s *Server) exec(c *Client, args [][]byte, now int64, t0 time.Time, out []byte) []byte {
	if len(args) == 0 {
		return out
	}
	start := len(out)
	cmd := lookup(s.table, args[0])
	if cmd == nil {
		out = appendUnknownCommand(out, args)
		s.countError(c.stats, out[start:])
		return out
	}
	if cmd.subs != nil && len(args) >= 2 {
		sub := lookup(cmd.subs, args[1])
		if sub == nil {
			out = appendUnknownSubcommand(out, args[0], args[1])
			s.countError(c.stats, out[start:])
			return out
		}
		cmd = sub
	}
	if !cmd.arityOK(len(args)) {
		out = appendArityError(out, cmd.name)
		s.reject(c, cmd, out[start:])
		return out
	}
	if !c.authenticated && cmd.flags&flagNoAuth == 0 && s.requirePass() != "" {
		// As Redis's authRequired: once the default user has no password again, clients
		// that never authenticated need not.
		out = appendErr(out, errNoAuth)
		s.reject(c, cmd, out[start:])
		return out
	}
	if cmd.flags&flagProtected != 0 && !s.debugEnabled {
		out = appendErr(out, errDebugDisabled)
		s.reject(c, cmd, out[start:])
		return out
	}
	if cmd.flags&flagDenyOOM != 0 && s.denyOOM() {
		out = appendErr(out, errOOMText)
		s.reject(c, cmd, out[start:])
		return out
	}
	c.lastCmd.Store(now)
	c.lastName.Store(cmd)
	if !statsEnabled {
		out = cmd.run(s, c, args, now, out)
		c.commands.Store(c.commands.Load() + 1)
		return out
	}
	var w uint64
	if !t0.IsZero() {
		w = 1
	} else if w = s.timing(c, cmd, len(args)); w != 0 {
		t0 = time.Now()
	}
	out = cmd.run(s, c, args, now, out)
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
