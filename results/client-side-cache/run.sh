#!/usr/bin/env bash
# Client-side caching (issue 4): an application's GET through rueidis's in-process cache, the
# same GET through rueidis without its cache, and the load generator's own RESP client, all
# over the Unix socket of one sidecache.
#
#   results/client-side-cache/run.sh          (make results-csc)
#
# Settings (environment): CSC_DURATION (measured time per target, default 10s), CSC_CONNS
# (connection counts, default "1 4"), CSC_READS (shares of GETs, the rest SETs, default
# "1 0.9": a SET invalidates its key in the client's cache, so below 1 the cache hit rate
# falls), CSC_KEYS (default 1000). One table per share of GETs and connection count.
# Starts sidecache itself (no TCP listener, --unixsocket in a temp dir) and stops it by PID
# on exit. Writes README.md here, and read-R/conns-N/NAME.json, NAME.hgrm per target.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=results/client-side-cache
DURATION=${CSC_DURATION:-10s}
CONNS=${CSC_CONNS:-1 4}
KEYS=${CSC_KEYS:-1000}
READS=${CSC_READS:-1 0.9}
mkdir -p "$OUT"
TMP=$(mktemp -d)
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

CGO_ENABLED=0 go build -trimpath -o "$TMP/sidecache" ./cmd/sidecache
CGO_ENABLED=0 go build -trimpath -o "$TMP/loadgen" ./cmd/loadgen
SOCK="$TMP/sc.sock"
"$TMP/sidecache" --port 0 --unixsocket "$SOCK" --admin-addr "" --logformat text >"$TMP/sc.log" 2>&1 &
PID=$!
for i in $(seq 100); do
  [ -S "$SOCK" ] && "$TMP/loadgen" run -duration 1ms -warmup 0 -keys 1 -read 1 -progress=false "unix://$SOCK" >/dev/null 2>&1 && break
  sleep 0.1
done

# The warm-up reads every key at least once in all likelihood, so the measured span sees the
# cache in its steady state (cold misses are not what is compared).
FLAGS=(-keys "$KEYS" -value 100 -prefill -pipeline 1 -warmup 2s -duration "$DURATION" -progress=false)
TARGETS=("rueidis-cache=rueidis-cache+unix://$SOCK" "rueidis=rueidis+unix://$SOCK" "loadgen-unix=unix://$SOCK")
: >"$TMP/tables.md"
for r in $READS; do
  for c in $CONNS; do
    echo "== -read $r -conns $c" >&2
    "$TMP/loadgen" run "${FLAGS[@]}" -read "$r" -conns "$c" -out "$OUT/read-$r/conns-$c" -markdown "${TARGETS[@]}" >"$TMP/run.md"
    machine=$(head -1 "$TMP/run.md")
    { echo "### -read $r -conns $c"; echo; tail -n +2 "$TMP/run.md"; echo; } >>"$TMP/tables.md"
  done
done
cat "$TMP/tables.md" >&2

{
  echo "# Client-side caching: rueidis's in-process cache vs the Unix socket"
  echo
  echo "Produced by \`make results-csc\` (\`results/client-side-cache/run.sh\`), $(date -u +%Y-%m-%d)," \
       "on $machine. The machine is shared by other work and noisy; one run per figure."
  echo
  echo "One sidecache (\`sidecache --port 0 --unixsocket PATH\`), then for each share R of GETs and connection count N:"
  echo
  echo '```'
  echo "loadgen run ${FLAGS[*]} -read R -conns N -out $OUT/read-R/conns-N -markdown \\"
  echo "  rueidis-cache=rueidis-cache+unix://PATH rueidis=rueidis+unix://PATH loadgen-unix=unix://PATH"
  echo '```'
  echo
  echo "- **rueidis-cache**: \`DoCache(GET key)\` through rueidis $(awk '$1 == "github.com/redis/rueidis" {print $2}' go.mod)" \
       "with its client-side cache (RESP3, \`CLIENT TRACKING ON OPTIN\`): a key read once is then served from the" \
       "client's memory until sidecache invalidates it. One rueidis client is shared by the N goroutines, as in an application."
  echo "- **rueidis**: the same client with \`DisableCache\`: \`Do(GET key)\`, every read a round trip over the socket."
  echo "- **loadgen-unix**: the load generator's own allocation-free RESP2 client, one socket per goroutine."
  echo
  echo "Every key is SET once first (prefill, not measured); then GETs, or with \`-read R\` below 1 a share 1-R of SETs" \
       "(through the same client, each invalidating its key in the client's cache), uniform over $KEYS keys of 100-byte" \
       "values, closed loop, one command per call; 2 s of warm-up (which reads every key into the client's cache) are not" \
       "measured. Latency is per command (per GET with \`-read 1\`)," \
       "from the call to its result. *hit rate*: GETs that found their key; *client-side cache hits*: GETs" \
       "rueidis answered from its cache (\`RedisResult.IsCacheHit\`)."
  echo
  cat "$TMP/tables.md"
  echo "Per-target reports and histograms: \`read-R/conns-N/NAME.json\`, \`read-R/conns-N/NAME.hgrm\`."
} >"$OUT/README.md"
cat "$OUT/README.md"
