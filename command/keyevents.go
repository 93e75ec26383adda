package command

import "github.com/sidecache/sidecache/engine"

// keyChanged is the engine's OnChange hook (installed by NewServer): every modification of
// a key — write, delete, expiry, eviction, flush (key nil; db -1 for all) — passes here,
// under the key's segment lock, so WATCH and client-side-caching invalidation see them in
// the order they happened. It must stay cheap when nobody watches or tracks, must not
// call back into the engine, and must make no syscall: the invalidations it produces are
// only queued, their wake-ups wait for FlushWakes (wake.go).
func (s *Server) keyChanged(db int, key []byte, ev engine.Event) {
	s.touchWatched(db, key, ev)
	s.trackKeyChanged(key, ev)
}
