package command

import (
	"sync/atomic"

	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
	"github.com/sidecache/sidecache/pubsub"
)

// Client-side caching: CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO, and the steps
// around a command that feed the tracking table (pubsub.Tracker). Redis 7's semantics
// (tracking.c, networking.c's clientCommand), checked against redis-server 7.0.15:
//
//   - After a read-only command of a client tracking in the default mode, its keys (the
//     table's firstKey/lastKey/keyStep) are remembered for it — even when the command
//     failed (WRONGTYPE) — unless OPTIN without CLIENT CACHING YES, or OPTOUT after CLIENT
//     CACHING NO. Inside EXEC each queued command is remembered as it runs.
//   - CLIENT CACHING lasts for the next command, or the whole MULTI ... EXEC; a CLIENT
//     subcommand in between keeps it (Redis clears it in resetClient unless the command
//     was clientCommand or the client is in MULTI).
//   - Every change of a key reaches keyChanged, from whichever goroutine made it, and the
//     Tracker pushes the invalidations from there (see pubsub/tracking.go for the order
//     they arrive in: a client's own change follows its reply, as in Redis 7.0.15).
//   - keyChanged does not know which client made a change. A NOLOOP client publishes the
//     command it runs (Begin/End), and a change of one of that command's keys while it runs
//     counts as its own (pubsub.TrackingClient.Begin says when that can be wrong: never
//     inside EXEC). Evictions are never a client's own here; Redis counts the ones a
//     command's memory check makes as the command's.
//
// Where this differs from Redis 7.0 on purpose:
//   - BCAST invalidations of writes go out when the write command (or EXEC) that made them
//     ends, expiries and evictions at once; Redis gathers everything one turn of its event
//     loop did, so a pipeline of writes gets one message per prefix there and one per
//     command here.
//   - Past tracking-table-max-keys, keys are invalidated by the read that went over the
//     limit; Redis does it before the next command (or in its cron).
//   - The engine reports FLUSHDB, FLUSHALL and SWAPDB as flushes: each sends every tracking
//     client a null invalidation. Redis 7.0 does so for the flushes but not for SWAPDB,
//     after which the key names it tracked hold other values: here SWAPDB invalidates too
//     (once per database swapped).

// trackState is the Server's part of client-side caching.
type trackState struct {
	tracker *pubsub.Tracker
}

// trackClient is a client's part. Only c's event loop touches it.
type trackClient struct {
	// tc is nil while tracking is off; set and cleared by c's loop, read by CLIENT LIST's
	// from any loop.
	tc atomic.Pointer[pubsub.TrackingClient]
	// keep: the last command was a CLIENT subcommand, which does not end CLIENT CACHING.
	keep bool
}

// defaultTrackingMaxKeys is tracking-table-max-keys when the registry has no such setting.
const defaultTrackingMaxKeys = 1000000

// initTracking creates the Tracker and follows tracking-table-max-keys.
func (s *Server) initTracking() {
	n := int64(defaultTrackingMaxKeys)
	if s.cfg != nil && s.cfg.Lookup("tracking-table-max-keys") != nil {
		n = s.cfg.Int("tracking-table-max-keys")
		s.cfg.OnChange("tracking-table-max-keys", func(cfg *config.Config) {
			s.tracker.SetMaxKeys(cfg.Int("tracking-table-max-keys"))
		})
	}
	s.tracker = pubsub.NewTracker(n)
}

// trackKeyChanged is keyChanged's tracking step; one atomic load when nothing is tracked.
func (s *Server) trackKeyChanged(key []byte, ev engine.Event) {
	t := s.tracker
	if t == nil || !t.Active() {
		return
	}
	switch ev {
	case engine.EventFlush:
		t.Flush()
	case engine.EventExpire:
		t.Invalidate(key, pubsub.CauseExpire)
	case engine.EventEvict:
		t.Invalidate(key, pubsub.CauseEvict)
	default:
		t.Invalidate(key, pubsub.CauseWrite)
	}
}

// run executes cmd for c: exec's and EXEC's single way into a handler. A client that does
// not track pays one branch for a command that cannot write.
func (s *Server) run(c *Client, cmd *command, args [][]byte, now int64, out []byte) []byte {
	if c.track.tc.Load() == nil && cmd.flags&(flagWrite|flagNoQueue) == 0 {
		return cmd.run(s, c, args, now, out)
	}
	return s.runTracked(c, cmd, args, now, out)
}

func (s *Server) runTracked(c *Client, cmd *command, args [][]byte, now int64, out []byte) []byte {
	tc := c.track.tc.Load()
	noloop := tc != nil && tc.Flags()&pubsub.TrackNoLoop != 0
	if noloop {
		tc.Begin(args, cmd.firstKey, cmd.lastKey, cmd.keyStep, cmd.flags&flagWrite != 0)
	}
	out = cmd.run(s, c, args, now, out)
	if noloop {
		tc.End()
	}
	if tc != nil && cmd.flags&flagReadonly != 0 && cmd.flags&flagPubSub == 0 && cmd.firstKey > 0 {
		s.trackRemember(tc, cmd, args)
	}
	// A command run inside EXEC leaves the BCAST batch open: EXEC ends it.
	if cmd.flags&(flagWrite|flagNoQueue) != 0 && !(c.tx.on && cmd.flags&flagNoQueue == 0) {
		s.tracker.FlushBcast()
	}
	return out
}

// trackRemember is Redis's trackingRememberKeys.
func (s *Server) trackRemember(tc *pubsub.TrackingClient, cmd *command, args [][]byte) {
	f := tc.Flags()
	if f&pubsub.TrackOn == 0 || f&pubsub.TrackBcast != 0 {
		return
	}
	caching := f&pubsub.TrackCaching != 0
	if f&pubsub.TrackOptIn != 0 && !caching || f&pubsub.TrackOptOut != 0 && caching {
		return
	}
	last := cmd.lastKey
	if last < 0 {
		last += len(args)
	}
	step := max(cmd.keyStep, 1)
	for i := cmd.firstKey; i <= last && i < len(args); i += step {
		s.tracker.Remember(tc, args[i])
	}
}

// trackNext runs before each command a tracking client sends (queued ones too): CLIENT
// CACHING ends after one command, unless that was a CLIENT subcommand or the client is in
// MULTI (Redis's resetClient, one command later: the state after the previous command is
// what this one starts with).
func (s *Server) trackNext(c *Client, args [][]byte) {
	ct := &c.track
	if tc := ct.tc.Load(); !ct.keep && !c.tx.on && tc.Flags()&pubsub.TrackCaching != 0 {
		tc.SetCaching(false)
	}
	ct.keep = false
	if len(args) >= 2 {
		if cmd := lookup(s.table, args[0]); cmd != nil && cmd.name == "client" && lookup(cmd.subs, args[1]) != nil {
			ct.keep = true
		}
	}
}

// trackRelease ends tracking for a client that closed. Its REDIRECT clients learn it at
// their next invalidation (tracking-redir-broken), as in Redis.
func (s *Server) trackRelease(c *Client) {
	if tc := c.track.tc.Load(); tc != nil {
		s.tracker.Disable(tc)
		c.track.tc.Store(nil)
	}
}

// trackSink is a Client as the Tracker delivers to it.
type trackSink Client

func (t *trackSink) Push(msg []byte) bool          { return (*Client)(t).Push(msg) }
func (t *trackSink) Queue(msg []byte) bool         { return (*Client)(t).queuePush(msg) }
func (t *trackSink) ProtoAtomic() protocol.Version { return (*Client)(t).ProtoAtomic() }
func (t *trackSink) PubSubMode() bool              { return (*Client)(t).IsPubSub() }

// Gone reports whether the client disconnected (its push queue closed).
func (t *trackSink) Gone() bool {
	q := &t.push
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// Reply texts of client-side caching.
const (
	errTrackRedirOne    = "ERR A client can only redirect to a single other client"
	errTrackRedirNone   = "ERR The client ID you want redirect to does not exist"
	errTrackPrefixBcast = "ERR PREFIX option requires BCAST mode to be enabled"
	errTrackBcastSwitch = "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."
	errTrackOptBcast    = "ERR OPTIN and OPTOUT are not compatible with BCAST"
	errTrackOptBoth     = "ERR You can't specify both OPTIN mode and OPTOUT mode"
	errTrackOptSwitch   = "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."
	errCachingOff       = "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"
	errCachingYes       = "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."
	errCachingNo        = "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."
)

// cmdClientTracking is CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN]
// [OPTOUT] [NOLOOP], with Redis's checks in Redis's order.
func cmdClientTracking(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	var o pubsub.TrackOptions
	for j := 3; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case eqFold(args[j], "redirect") && more > 0:
			j++
			if o.Redirect != 0 {
				return appendErr(out, errTrackRedirOne)
			}
			id, ok := parseInt(args[j])
			if !ok {
				return appendErr(out, errNotInt)
			}
			o.Redirect = id
			// Checked now, though the target may go later (tracking-redir-broken).
			s.clientsMu.Lock()
			target := s.clients[id]
			s.clientsMu.Unlock()
			if target == nil {
				return appendErr(out, errTrackRedirNone)
			}
			o.RedirectTo = (*trackSink)(target)
		case eqFold(args[j], "bcast"):
			o.Bcast = true
		case eqFold(args[j], "optin"):
			o.OptIn = true
		case eqFold(args[j], "optout"):
			o.OptOut = true
		case eqFold(args[j], "noloop"):
			o.NoLoop = true
		case eqFold(args[j], "prefix") && more > 0:
			j++
			o.Prefixes = append(o.Prefixes, args[j])
		default:
			return appendErr(out, errSyntax)
		}
	}
	tc := c.track.tc.Load()
	switch {
	case eqFold(args[2], "on"):
		var f uint32
		if tc != nil {
			f = tc.Flags()
		}
		switch {
		case !o.Bcast && len(o.Prefixes) > 0:
			return appendErr(out, errTrackPrefixBcast)
		case f&pubsub.TrackOn != 0 && (f&pubsub.TrackBcast != 0) != o.Bcast:
			return appendErr(out, errTrackBcastSwitch)
		case o.Bcast && (o.OptIn || o.OptOut):
			return appendErr(out, errTrackOptBcast)
		case o.OptIn && o.OptOut:
			return appendErr(out, errTrackOptBoth)
		case o.OptIn && f&pubsub.TrackOptOut != 0 || o.OptOut && f&pubsub.TrackOptIn != 0:
			return appendErr(out, errTrackOptSwitch)
		}
		if o.Bcast {
			var existing []string
			if tc != nil {
				existing = tc.Prefixes()
			}
			var ok bool
			if out, ok = appendPrefixCollision(out, existing, o.Prefixes); !ok {
				return out
			}
		}
		if tc == nil {
			tc = s.tracker.NewClient(c.ID, (*trackSink)(c))
			c.track.tc.Store(tc)
		}
		s.tracker.Enable(tc, o)
	case eqFold(args[2], "off"):
		s.trackRelease(c)
	default:
		return appendErr(out, errSyntax)
	}
	return protocol.AppendSimple(out, "OK")
}

// appendPrefixCollision is Redis's checkPrefixCollisionsOrReply: no new prefix may be a
// prefix of an existing one or the other way round, nor of another new one. It reports
// false, with the error appended, when tracking must not be enabled. Redis 7's function
// returns the index of the new prefix that overlaps a later new one, so when that index
// is not 0 the error is sent and tracking is enabled all the same, followed by +OK: both
// replies are kept here, byte for byte.
func appendPrefixCollision(out []byte, existing []string, prefixes [][]byte) ([]byte, bool) {
	overlap := func(a, b []byte) bool {
		n := min(len(a), len(b))
		return string(a[:n]) == string(b[:n])
	}
	for i, p := range prefixes {
		for _, e := range existing {
			if overlap([]byte(e), p) {
				msg := "ERR Prefix '" + string(cString(p, len(p))) + "' overlaps with an existing prefix '" +
					string(cString([]byte(e), len(e))) + "'. Prefixes for a single client must not overlap."
				return appendErrText(out, msg), false
			}
		}
		for _, q := range prefixes[i+1:] {
			if overlap(p, q) {
				msg := "ERR Prefix '" + string(cString(p, len(p))) + "' overlaps with another provided prefix '" +
					string(cString(q, len(q))) + "'. Prefixes for a single client must not overlap."
				return appendErrText(out, msg), i != 0
			}
		}
	}
	return out, true
}

// cmdClientCaching is CLIENT CACHING YES|NO.
func cmdClientCaching(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	tc := c.track.tc.Load()
	if tc == nil || tc.Flags()&pubsub.TrackOn == 0 {
		return appendErr(out, errCachingOff)
	}
	f := tc.Flags()
	switch {
	case eqFold(args[2], "yes"):
		if f&pubsub.TrackOptIn == 0 {
			return appendErr(out, errCachingYes)
		}
	case eqFold(args[2], "no"):
		if f&pubsub.TrackOptOut == 0 {
			return appendErr(out, errCachingNo)
		}
	default:
		return appendErr(out, errSyntax)
	}
	tc.SetCaching(true)
	return protocol.AppendSimple(out, "OK")
}

// cmdClientGetRedir is CLIENT GETREDIR: the REDIRECT id, 0 without one, -1 when tracking is
// off.
func cmdClientGetRedir(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendInt(out, trackRedirect(c))
}

// trackRedirect is the REDIRECT id of c (0 none), -1 when tracking is off (CLIENT GETREDIR,
// TRACKINGINFO, CLIENT LIST's redir=). Safe from any goroutine.
func trackRedirect(c *Client) int64 {
	if tc := c.track.tc.Load(); tc != nil {
		return tc.Redirect()
	}
	return -1
}

// cmdClientTrackingInfo is CLIENT TRACKINGINFO: a map of flags (a set), redirect and
// prefixes, as Redis 7.
func cmdClientTrackingInfo(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	var f uint32
	var prefixes []string
	if tc := c.track.tc.Load(); tc != nil {
		f = tc.Flags()
		prefixes = tc.Prefixes()
	}
	var names [8]string
	flags := names[:0]
	if f&pubsub.TrackOn != 0 {
		flags = append(flags, "on")
	} else {
		flags = append(flags, "off")
	}
	if f&pubsub.TrackBcast != 0 {
		flags = append(flags, "bcast")
	}
	if f&pubsub.TrackOptIn != 0 {
		flags = append(flags, "optin")
		if f&pubsub.TrackCaching != 0 {
			flags = append(flags, "caching-yes")
		}
	}
	if f&pubsub.TrackOptOut != 0 {
		flags = append(flags, "optout")
		if f&pubsub.TrackCaching != 0 {
			flags = append(flags, "caching-no")
		}
	}
	if f&pubsub.TrackNoLoop != 0 {
		flags = append(flags, "noloop")
	}
	if f&pubsub.TrackBrokenRedir != 0 {
		flags = append(flags, "broken_redirect")
	}
	out = protocol.AppendMapLen(out, c.Proto, 3)
	out = protocol.AppendBulkString(out, "flags")
	out = protocol.AppendSetLen(out, c.Proto, len(flags))
	for _, fl := range flags {
		out = protocol.AppendBulkString(out, fl)
	}
	out = protocol.AppendBulkString(out, "redirect")
	out = protocol.AppendInt(out, trackRedirect(c))
	out = protocol.AppendBulkString(out, "prefixes")
	out = protocol.AppendArrayLen(out, len(prefixes))
	for _, p := range prefixes {
		out = protocol.AppendBulkString(out, p)
	}
	return out
}

// appendTrackingFlags appends CLIENT LIST's tracking letters (t, R, B) for c. Safe from any
// goroutine.
func appendTrackingFlags(dst []byte, c *Client) []byte {
	tc := c.track.tc.Load()
	if tc == nil {
		return dst
	}
	f := tc.Flags()
	if f&pubsub.TrackOn != 0 {
		dst = append(dst, 't')
	}
	if f&pubsub.TrackBrokenRedir != 0 {
		dst = append(dst, 'R')
	}
	if f&pubsub.TrackBcast != 0 {
		dst = append(dst, 'B')
	}
	return dst
}
