// Package upstream is the L1/L2 mode: sidecache in front of a central Redis or Valkey (the
// upstream, L2), keeping the hot keys in its own keyspace (L1) and coherent with the
// upstream through server-assisted client-side caching. The L1 is the engine's arena: its
// entries count in used_memory and are evicted by maxmemory-policy like any key.
//
//	app ──► sidecar command layer ──► Conn.Do ──┬─ hit: answered from L1 on the event loop
//	                                            ├─ miss: flight (fetch.go) ──► tracked read ──► store if fresh ──► deliver
//	                                            └─ anything else: forward.go ──► upstream ──► deliver
//	upstream invalidation push ──► onInvalidations ──► L1 delete (every db) ──► app clients tracking the key
//
// Connections: one rueidis client per upstream database the apps select (rueidis binds a
// client to one database), RESP3, auto-pipelined, MOVED/ASK followed in a cluster. Every
// connection turns tracking on in its handshake (CLIENT TRACKING ON OPTIN), before it
// carries any command, and a reconnection does the same. TLS and credentials are the same
// for every connection, read once at start-up (config.UpstreamConnection); a TLS 1.3
// upstream's refusal of a missing client certificate gets its likely cause named (tls.go).
//
// Why an invalidation for a read arrives on the connection that did the read. Redis tracks
// keys per connection: with OPTIN, a connection's read is remembered only when the command
// just before it on that connection was CLIENT CACHING YES, and an invalidation goes to the
// connection that remembered the key. A fetch is one rueidis DoMulti — CLIENT CACHING YES,
// GET k, PTTL k (fetch_tracked.go; in a cluster a transaction, cluster.go) — which rueidis
// writes back to back on a single connection, so the CACHING YES and the read it applies to
// are on the same connection, and so is the invalidation of that key. That connection
// delivers the reply and any later push in the order Redis sent them; rueidis hands pushes
// to onInvalidations on the reading goroutine and replies to the waiting goroutine, which
// may run after a push that followed its reply: the per-key generations of l1.go refuse
// such a store.
//
// Why GET and PTTL need no MULTI to make a value and its TTL one entry. The GET makes the
// connection track k, so any change to k after it — a write, a delete, an expiry, by
// anyone — sends this connection an invalidation. Redis runs commands one at a time: a
// change between the GET and the PTTL runs before the PTTL, and its invalidation is in the
// connection's output before the PTTL's reply (when the change is the connection's own
// command, a write the sidecar forwarded, Redis holds the push until that command's reply,
// still before the PTTL runs). rueidis reads that push, and calls onInvalidations, before
// it reads the PTTL's reply, which completes the DoMulti: the key's generation has moved
// before the store, which is refused. The one change whose push may come after the PTTL's
// reply is the PTTL's own lazy expiry of k (Redis 7 defers a push caused by the receiving
// connection's running command until its reply); PTTL then answers -2 (no such key), and
// a read and a PTTL that disagree on whether k exists store nothing (fetch_tracked.go).
// PTTL -1 (no expiry) stores for l1-max-ttl. So a stored entry pairs the value with the
// TTL of that same value, as MULTI would. If that connection closes (upstream
// restart, CLIENT KILL, network failure, rueidis's PING deadline on a half-open connection),
// rueidis calls onInvalidations(nil): the invalidations it would have carried are lost. A
// standalone upstream's one tracking connection vouched for every entry, so the whole L1
// is flushed and every fetch in flight is refused (the epoch of l1.go). In a cluster a
// connection vouches for the slots its node owns: each connection is wrapped with the
// node it was dialed to, its end drops those slots only (their fetches in flight refused,
// their entries deleted: slots.go, nodeconn.go), and the other nodes' entries keep
// answering. A null push (FLUSHALL, FLUSHDB upstream) flushes the whole L1, in a cluster
// the slots of the node that sent it (nodeconn.go says how it is told from an end).
// With upstream-serve-stale the L1 is held instead, and flushed when the upstream answers
// again (stale.go). Requests to a failing upstream are bounded and cut short by a circuit
// breaker (breaker.go).
//
// Known limit: SWAPDB run on the upstream by another client. Redis (checked with 7.0.15,
// OPTIN and default tracking alike) sends no invalidation for SWAPDB, so the L1 keeps what
// it read from the swapped databases until l1-max-ttl. SWAPDB sent through the sidecar
// flushes L1 once acknowledged (forward.go). An upstream whose databases are swapped by
// others needs a short l1-max-ttl, or SWAPDB renamed away upstream.
//
// rueidis has its own client-side cache on the Go heap; it is never used here (no DoCache
// call), so nothing is cached outside the arena. It is enabled only because enabling it is
// what makes rueidis send CLIENT TRACKING ON OPTIN in every connection's handshake; its
// size bound is set to 1 KiB per connection.
//
// Cache misses never wait on an event loop: Do prepares the fetch or the forward and
// returns "deferred"; the command layer stops the connection's batch there and Start sends
// it from a goroutine; the reply comes back through deliver, which the command layer turns
// into a push on the connection's own loop (netpoll/deferred.go), after which the
// connection's next pipelined commands run. Replies therefore leave in request order.
//
// What the L1 holds and why absent keys are tagged strings: l1.go. The RESP3-to-RESP2
// translation of pass-through replies: resp.go. MULTI/EXEC/WATCH on a dedicated upstream
// connection: tx.go. Filling the L1 at start-up: prewarm.go. A Redis Cluster upstream, where
// slot migrations and failovers move keys away from the node that tracks them for this
// sidecar: cluster.go (fetches keep CLIENT CACHING YES inside MULTI; a changed slot map
// drops the slots that changed primary, slots.go). Pub/sub across pods, relayed through the upstream: pubsub.go.
package upstream
