// Package netpoll serves RESP over gnet's event loops: TCP and a Unix socket in one engine,
// connection lifecycle, pipelined batches written once, limits, and the shutdown drain.
package netpoll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/sidecache/sidecache/command"
	"github.com/sidecache/sidecache/protocol"
)

// Options configure a Server. Zero values take the defaults noted.
type Options struct {
	// TCP lists host:port addresses to listen on; empty means no TCP listener.
	TCP []string
	// UnixSocket is the socket path; empty means none. An existing socket file there is
	// replaced (a restart after SIGKILL); any other kind of file is an error.
	UnixSocket string
	// UnixSocketPerm is applied to the socket file once it exists. The process umask keeps it
	// owner-only until then.
	UnixSocketPerm os.FileMode
	// Loops is the number of event loops; default GOMAXPROCS (container-aware).
	Loops int
	// MaxClients bounds concurrent connections; 0 means 10000.
	MaxClients int
	// Limits bound one command (bulk, multibulk, inline lengths).
	Limits protocol.Limits
	// QueryBufferLimit bounds the input one connection may hold unprocessed; default 1 GiB.
	QueryBufferLimit int
	// OutputLimit bounds reply bytes the peer has not read yet (client-output-buffer-limit
	// normal); the zero value means no limit. See limits.go.
	OutputLimit OutputLimit
	// PubSubOutputLimit is client-output-buffer-limit pubsub, for subscribed clients
	// (push.go); the zero value means no limit.
	PubSubOutputLimit OutputLimit
	// IdleTimeout closes clients idle this long (Redis's timeout); 0 means never.
	IdleTimeout time.Duration
	// MaxMemoryClients bounds all client buffers together, in bytes; 0 means no limit.
	MaxMemoryClients int64
	// ProtectedMode refuses clients that are neither on loopback nor on the Unix socket
	// while no password is set (protected.go).
	ProtectedMode bool
	// TCPKeepAlive is the keep-alive period; 0 disables it.
	TCPKeepAlive time.Duration
	// BackgroundNice, above 0, locks the event loops to their threads and keeps every other
	// thread of the process this much nicer than them (threadnice.go); 0 leaves threads as
	// Go runs them.
	BackgroundNice int
	// Heartbeat is how often each event loop is asked to prove it runs (LoopHealth);
	// default 1s.
	Heartbeat time.Duration
	Logger    *slog.Logger
}

// Server is the RESP front end.
type Server struct {
	gnet.BuiltinEventEngine

	opts Options
	cmd  *command.Server
	log  *slog.Logger

	limits   atomic.Pointer[protocol.Limits]
	engine   gnet.Engine
	booted   chan struct{}
	ready    atomic.Bool
	stopping atomic.Bool // readiness withdrawn; still serving (shutdown-delay)
	draining atomic.Bool // refusing new connections; replies draining

	mu       sync.Mutex
	conns    map[*conn]struct{}
	loops    []*loopState                 // under mu; see loop.go
	loopList atomic.Pointer[[]*loopState] // a copy of loops, read without mu

	outLimit     atomic.Pointer[OutputLimit]
	idleTimeout  atomic.Int64 // ms; 0 never
	maxClientMem atomic.Int64 // bytes; 0 no limit
	protected    atomic.Bool
	maxClients   atomic.Int64
	queryLimit   atomic.Int64 // bytes
	evictWake    chan struct{}
	// releaseWanted asks the sweeper to return freed memory to the OS (sweep.go): when it
	// was last asked, on the mono clock; 0 when not.
	releaseWanted atomic.Int64
	// closedMem is what clients closed since the last release held at their largest, bytes.
	closedMem atomic.Int64

	// barrier isolates EXEC from the other loops (barrier.go).
	barrier barrier

	epoch  time.Time     // origin of mono()
	hbStop chan struct{} // closed on shutdown: stops the heartbeat
	hbOnce sync.Once

	stats Stats

	pushState // the push path to other loops' connections (push.go)
}

// Stats are connection counters, for INFO and /metrics.
type Stats struct {
	Accepted  atomic.Int64
	Rejected  atomic.Int64 // over maxclients, by protected mode, or while shutting down
	Connected atomic.Int64
	// OutputLimitClosed counts clients closed over client-output-buffer-limit,
	// EvictedClients those closed over maxmemory-clients.
	OutputLimitClosed atomic.Int64
	EvictedClients    atomic.Int64
	// Bytes of connections already closed; open connections count their own (single
	// writer, no shared cache line per batch) and Bytes sums both.
	closedIn, closedOut atomic.Int64
}

// Bytes returns the bytes read from and written to clients since start.
func (s *Server) Bytes() (in, out int64) {
	in, out = s.stats.closedIn.Load(), s.stats.closedOut.Load()
	s.mu.Lock()
	for c := range s.conns {
		in += c.bytesIn.Load()
		out += c.bytesOut.Load()
	}
	s.mu.Unlock()
	return in, out
}

// New returns a Server that executes commands with cmd.
func New(cmd *command.Server, opts Options) *Server {
	if opts.Loops <= 0 {
		opts.Loops = runtime.GOMAXPROCS(0)
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = 10000
	}
	if opts.Limits == (protocol.Limits{}) {
		opts.Limits = protocol.DefaultLimits()
	}
	if opts.QueryBufferLimit <= 0 {
		opts.QueryBufferLimit = 1 << 30
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = heartbeatEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, cmd: cmd, log: opts.Logger, booted: make(chan struct{}), conns: make(map[*conn]struct{}),
		epoch: time.Now(), hbStop: make(chan struct{}), evictWake: make(chan struct{}, 1)}
	l := opts.Limits
	s.limits.Store(&l)
	s.SetOutputLimit(opts.OutputLimit)
	s.SetPubSubOutputLimit(opts.PubSubOutputLimit)
	s.SetIdleTimeout(opts.IdleTimeout)
	s.maxClientMem.Store(opts.MaxMemoryClients)
	s.protected.Store(opts.ProtectedMode)
	s.SetMaxClients(opts.MaxClients)
	s.SetQueryBufferLimit(opts.QueryBufferLimit)
	s.barrier.init(opts.Loops)
	if cmd != nil {
		cmd.SetBarrier(s)
		cmd.SetUnpauseHook(s.wakePaused)
	}
	return s
}

// SetMaxClients changes maxclients; clients already connected stay. 0 means 10000.
func (s *Server) SetMaxClients(n int) {
	if n <= 0 {
		n = 10000
	}
	s.maxClients.Store(int64(n))
}

// SetQueryBufferLimit changes client-query-buffer-limit; 0 means 1 GiB.
func (s *Server) SetQueryBufferLimit(n int) {
	if n <= 0 {
		n = 1 << 30
	}
	s.queryLimit.Store(int64(n))
}

// Stats returns the connection counters.
func (s *Server) Stats() *Stats { return &s.stats }

// SetLimits changes the per-command limits; connections pick them up at their next batch.
func (s *Server) SetLimits(l protocol.Limits) { s.limits.Store(&l) }

// Ready reports whether the listeners accept and the server is not shutting down.
func (s *Server) Ready() bool { return s.ready.Load() && !s.stopping.Load() }

// BeginShutdown withdraws readiness at once; serving goes on until Shutdown.
func (s *Server) BeginShutdown() { s.stopping.Store(true) }

// Booted is closed once the listeners accept connections.
func (s *Server) Booted() <-chan struct{} { return s.booted }

// Serve listens and serves until Shutdown; it returns nil after a clean shutdown.
func (s *Server) Serve() error {
	addrs := make([]string, 0, len(s.opts.TCP)+1)
	for _, a := range s.opts.TCP {
		// gnet reports a taken port as "setsockopt: bad file descriptor"; try it first so the
		// operator reads "address already in use" instead.
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return err
		}
		ln.Close()
		addrs = append(addrs, "tcp://"+a)
	}
	if p := s.opts.UnixSocket; p != "" {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("unixsocket %s exists and is not a socket", p)
		}
		addrs = append(addrs, "unix://"+p)
	}
	if len(addrs) == 0 {
		return errors.New("nothing to listen on: port is 0 and no unixsocket is set")
	}
	opts := []gnet.Option{
		gnet.WithNumEventLoop(s.opts.Loops),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{s.log}),
	}
	if s.opts.TCPKeepAlive > 0 {
		opts = append(opts, gnet.WithTCPKeepAlive(s.opts.TCPKeepAlive))
	}
	if s.opts.BackgroundNice > 0 {
		// gnet runs the loops and one main reactor, which accepts connections.
		nicer := &threadNicer{add: s.opts.BackgroundNice, expect: s.opts.Loops + 1, log: s.log, stop: s.hbStop}
		opts = append(opts, gnet.WithLockOSThread(true), gnet.WithLockedThreadHook(nicer.loopLocked))
	}
	return gnet.Rotate(s, addrs, opts...)
}

// OnBoot widens the socket's permissions and marks the server ready.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.engine = eng
	if p := s.opts.UnixSocket; p != "" && s.opts.UnixSocketPerm != 0 {
		if err := os.Chmod(p, s.opts.UnixSocketPerm); err != nil {
			s.log.Error("chmod unixsocket", "path", p, "err", err)
			return gnet.Shutdown
		}
	}
	s.ready.Store(true)
	close(s.booted)
	go s.heartbeat(s.hbStop)
	go s.sweeper(s.hbStop)
	go s.evictor(s.hbStop)
	s.log.Info("ready to accept connections", "tcp", strings.Join(s.opts.TCP, " "), "unixsocket", s.opts.UnixSocket, "loops", s.opts.Loops)
	return gnet.None
}

// OnOpen registers a client, or refuses it with Redis's error.
func (s *Server) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	if s.draining.Load() {
		s.stats.Rejected.Add(1)
		return nil, gnet.Close
	}
	// Loops open connections concurrently: the slot is taken with a compare-and-swap, so
	// together they never pass maxclients.
	for {
		n := s.stats.Connected.Load()
		if n >= s.maxClients.Load() {
			s.stats.Rejected.Add(1)
			return []byte("-ERR max number of clients reached\r\n"), gnet.Close
		}
		if s.stats.Connected.CompareAndSwap(n, n+1) {
			break
		}
	}
	unix := gc.LocalAddr() != nil && gc.LocalAddr().Network() == "unix"
	if s.protectedRefuses(gc.RemoteAddr(), unix) {
		s.stats.Connected.Add(-1)
		s.stats.Rejected.Add(1)
		return []byte(deniedProtected), gnet.Close
	}
	s.stats.Accepted.Add(1)
	c := &conn{gc: gc, parser: protocol.NewParser(*s.limits.Load())}
	c.client = s.cmd.NewClient(addrString(gc.RemoteAddr(), unix), addrString(gc.LocalAddr(), unix), unix)
	c.client.SetCloser(func() { _ = gc.Close() })
	c.lastIO = time.Now().UnixMilli()
	gc.SetContext(c)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	l := s.loopFor(gc.EventLoop())
	s.mu.Unlock()
	l.register(c)
	c.client.SetLoopStats(l.stats)
	c.client.SetLoop(l.num)
	s.hookPush(c)
	s.hookDeferred(c)
	return nil, gnet.None
}

// OnShutdown stops the heartbeat.
func (s *Server) OnShutdown(gnet.Engine) { s.hbOnce.Do(func() { close(s.hbStop) }) }

func addrString(a net.Addr, unix bool) string {
	if a == nil {
		return ""
	}
	if unix {
		// Redis shows a Unix peer as "/path/to.sock:0".
		return a.String() + ":0"
	}
	return a.String()
}

// OnClose unregisters the client.
func (s *Server) OnClose(gc gnet.Conn, _ error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None
	}
	s.stats.Connected.Add(-1)
	s.stats.closedIn.Add(c.bytesIn.Load())
	s.stats.closedOut.Add(c.bytesOut.Load())
	s.cmd.ReleaseClient(c.client)
	c.loop.unregister(c)
	s.unaccount(c)
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	return gnet.None
}

// OnTraffic executes every complete command that has arrived and writes their replies once.
func (s *Server) OnTraffic(gc gnet.Conn) gnet.Action {
	c := gc.Context().(*conn)
	c.woken = false
	if c.closing {
		// A close was asked for off the batch path (sweep.go) and is queued on this loop;
		// execute nothing more for this client.
		return gnet.Close
	}
	// A connection waiting for a deferred reply runs nothing; read before the pushes are
	// drained, since the reply arrives as one (deferred.go).
	hold := c.client.Waiting()
	// Pushes queued before the batch go ahead of its replies, those queued during a command
	// right after its reply (push.go): never inside a reply.
	if c.client.PushPending() {
		c.out = c.client.DrainPush(c.out)
	}
	in, _ := gc.Peek(-1)
	c.bytesIn.Add(int64(len(in)))
	buf := in
	if len(c.pending) > 0 {
		c.pending = append(c.pending, in...)
		buf = c.pending
	}
	if lim := s.limits.Load(); lim != nil {
		c.parser.SetLimits(*lim)
	}

	start := time.Now()
	now := start.UnixMilli()
	c.lastIO = now
	// Stop executing once the replies would reach the hard output limit: the client is
	// closed after this write, and its backlog overshoots by one reply at most.
	stopAt := maxBatchReply
	if hard := s.limitFor(c.client).Hard; hard > 0 {
		stopAt = min(stopAt, max(hard-gc.OutboundBuffered(), 1))
	}
	consumed, closing, yielded, ncmds := 0, false, false, 0
	paused := false   // a client pause holds the command at consumed back (pause.go)
	deferred := false // the last command's reply comes later (deferred.go)
	// The loop's batch lock (barrier.go) is held while commands execute, never across the
	// write.
	lk := c.loop.lock
	lk.Lock()
	for !hold && consumed < len(buf) {
		args, n, err := c.parser.Parse(buf[consumed:])
		if err != nil {
			// Redis answers a protocol error and closes the connection.
			c.out = protocol.AppendError(c.out, err.Error())
			s.cmd.CountErrorReply(c.client, err.Error())
			closing = true
			break
		}
		if n == 0 {
			break
		}
		consumed += n
		if len(args) == 0 {
			continue
		}
		if ncmds == 0 && consumed == len(buf) {
			// The batch is this one command: time it from the batch start (command/stats.go).
			c.out = s.cmd.ExecTimed(c.client, args, now, start, c.out)
		} else {
			c.out = s.cmd.Exec(c.client, args, now, c.out)
		}
		if c.client.Postponed {
			consumed -= n // unexecuted: it stays at the head of the pending input
			paused = true
			break
		}
		if c.client.Deferred {
			deferred = true
			break
		}
		if c.client.PushPending() {
			c.out = c.client.DrainPush(c.out)
		}
		ncmds++
		if c.client.CloseAfterReply {
			closing = true
			break
		}
		if len(c.out) >= stopAt && consumed < len(buf) {
			yielded = true
			break
		}
	}
	lk.Unlock()

	// Keep what was not consumed as the connection's own copy before gnet's buffer is
	// released; then the whole inbound buffer is discarded (never Discard(0): gnet reads it
	// as "everything").
	rest := buf[consumed:]
	c.peakBuf = max(c.peakBuf, cap(c.pending), cap(c.out))
	switch {
	case closing:
		c.pending = c.pending[:0]
	case len(c.pending) > 0:
		n := copy(c.pending, rest)
		c.pending = c.pending[:n]
	case len(rest) > 0:
		c.pending = append(c.pending[:0], rest...)
	}
	if len(in) > 0 {
		_, _ = gc.Discard(len(in))
	}
	// Queued MULTI commands are input not processed yet: they count with it (command/multi.go).
	if !closing && len(c.pending)+c.client.QueuedBytes() > int(s.queryLimit.Load()) {
		s.log.Warn("closing client that reached max query buffer length", "id", c.client.ID, "addr", c.client.Addr, "qbuf", len(c.pending), "multi", c.client.QueuedBytes())
		closing = true
	}

	if len(c.out) > 0 {
		c.bytesOut.Add(int64(len(c.out)))
		_, err := c.write()
		if yielded && !closing {
			// More commands wait: the next batch reuses the buffer rather than growing a
			// new one, which a large pipeline would otherwise do per batch.
			c.out = c.out[:0]
		} else {
			c.out = trim(c.out)
		}
		if err != nil {
			return gnet.Close
		}
	}
	if closing {
		return gnet.Close
	}
	if len(c.pending) == 0 {
		c.pending = trim(c.pending)
	} else if consumed > 0 && !c.woken && !paused && !deferred {
		// Complete commands may remain after a yield: come back for them rather than wait for
		// input that may never arrive (invariant 3: nothing is stranded).
		c.woken = true
		_ = gc.Wake(nil)
	}
	if paused {
		s.waitUnpause(c)
	}
	pendingOut := gc.OutboundBuffered()
	if s.overOutputLimit(c, pendingOut, now) {
		s.closeOverOutputLimit(c, pendingOut)
		return gnet.Close
	}
	s.account(c, pendingOut)
	if (pendingOut > 0) != c.outPending.Load() {
		c.outPending.Store(pendingOut > 0)
	}
	return gnet.None
}

// Shutdown stops accepting, lets in-flight replies drain for up to timeout (or until ctx is
// done), then closes every connection and the listeners (which removes the socket file).
func (s *Server) Shutdown(ctx context.Context, timeout time.Duration) error {
	s.stopping.Store(true)
	if !s.draining.CompareAndSwap(false, true) {
		return nil
	}
	select {
	case <-s.booted:
	default:
		return nil
	}
	// New Unix clients get ENOENT from now on instead of a connection that is closed at once.
	if p := s.opts.UnixSocket; p != "" {
		_ = os.Remove(p)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil && s.outputPending() {
		time.Sleep(10 * time.Millisecond)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.engine.Stop(stopCtx)
}

// outputPending reports whether any connection still has unread replies; it asks the loops
// to re-check the ones that had some.
func (s *Server) outputPending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	pending := false
	for c := range s.conns {
		if c.outPending.Load() {
			pending = true
			_ = c.gc.Wake(nil)
		}
	}
	return pending
}

// Addr returns a listener address for clients, preferring TCP: "host:port" or a socket path.
func (s *Server) Addr() (network, addr string) {
	if len(s.opts.TCP) > 0 {
		return "tcp", s.opts.TCP[0]
	}
	return "unix", s.opts.UnixSocket
}

// TCPAddrs turns Redis's bind list and port into listen addresses. A '-' prefix (Redis's
// "optional" marker) is accepted and dropped.
func TCPAddrs(bind string, port int) []string {
	if port == 0 {
		return nil
	}
	var out []string
	for _, h := range strings.Fields(bind) {
		h = strings.TrimPrefix(h, "-")
		if h == "*" {
			h = "0.0.0.0"
		}
		out = append(out, net.JoinHostPort(h, strconv.Itoa(port)))
	}
	return out
}

type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Info(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }
