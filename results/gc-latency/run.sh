#!/usr/bin/env bash
# GC independence under load (issue 5: "p99.9 GET latency does not move while the GC runs").
#
#   results/gc-latency/run.sh          (make gc-latency; writes README.md and phases.csv here)
#
# One sidecache (Unix socket, no TCP listener, admin HTTP on a kernel-chosen loopback port)
# is loaded with GCLAT_KEYS keys by the load generator's prefill, then serves GET-only closed
# loops from the load generator in alternating rounds A B C D, A B C D ...:
#   A: no forced GC (only the server's own GC, if any);
#   B: a side process (curl --rate) asks /debug/pprof/gc on the admin address GCLAT_GC_RATE
#      times a second, each request running runtime.GC() in the server and nothing else.
#   C: the same side process asking /debug/pprof/heap with gc=0 (the same HTTP requests and
#      profile writing, no forced collection; the profile's allocations still start the
#      server's own GC);
#   D: the same side process asking /debug/pprof/cmdline (HTTP requests that allocate little).
# Optionally, W / WF pairs do the same with half the commands SETs (overwrites of the loaded
# keys), W without forcing (the server's own GC only) and WF with it.
# GC cycles, pause time and heap in use per phase are the deltas and values of /metrics
# (go_gc_duration_seconds_count, go_gc_forced_count, go_gc_duration_seconds_sum,
# go_memstats_heap_inuse_bytes) scraped just before and just after each phase.
# Every phase also traces each measured command (loadgen run -trace: send time on the wall
# clock, latency) and reads the server's /debug/gc-cycles after it (the wall-clock span of
# each collection /debug/pprof/gc forced, the STW pause windows of recent cycles);
# loadgen gc-overlap then splits the GETs into those whose [send, reply] overlapped a
# collection and those that overlapped none (overlap.md, and a section of README.md).
#
# Settings (environment): GCLAT_KEYS (default 1000000), GCLAT_PAIRS (A/B/C/D rounds, default 3),
# GCLAT_WRITE_PAIRS (W/WF pairs, default 1; 0: none), GCLAT_DURATION (measured time per
# phase, default 10s), GCLAT_CONNS (default 4), GCLAT_GC_RATE (forced GCs asked per second,
# default 100, i.e. one every 10 ms), GCLAT_RATE (0, the default: closed loops, each connection
# sending its next command when the reply came; N > 0: an open loop at N commands/s over all
# connections, at send times fixed in advance, latency counted from the intended send time;
# the load generator polls the clock before each send, which at thousands of commands a second
# takes CPU from the server on a small machine),
# GCLAT_OUT (where README.md, phases.csv and overlap.md go; default results/gc-latency),
# GCLAT_TARGET (the make target named in README.md as the command; default make gc-latency),
# GCLAT_TRACE_DIR (keep the traces and gc-cycles listings
# there, for loadgen gc-overlap to read again; default: a temporary directory, removed).
# Starts its processes itself and stops them by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
. results/admin.sh
OUT=${GCLAT_OUT:-results/gc-latency}
KEYS=${GCLAT_KEYS:-1000000}
PAIRS=${GCLAT_PAIRS:-3}
WPAIRS=${GCLAT_WRITE_PAIRS:-1}
DURATION=${GCLAT_DURATION:-10s}
CONNS=${GCLAT_CONNS:-4}
GC_RATE=${GCLAT_GC_RATE:-100}
RATE=${GCLAT_RATE:-0}
mkdir -p "$OUT"
TMP=$(mktemp -d)
PID=
FORCER=
cleanup() {
  if [ -n "$FORCER" ]; then kill "$FORCER" 2>/dev/null || true; wait "$FORCER" 2>/dev/null || true; fi
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

make build >&2
SOCK="$TMP/sc.sock"
TRACE=${GCLAT_TRACE_DIR:-$TMP/trace}
mkdir -p "$TRACE"
./bin/sidecache --port 0 --unixsocket "$SOCK" --admin-addr 127.0.0.1:0 --logformat text >"$TMP/sc.log" 2>&1 &
PID=$!
ADMIN=$(wait_admin "$TMP/sc.log" "$SOCK") || { echo "sidecache did not start" >&2; exit 1; }

# Keys are PREFIX + decimal index, the prefix padded so the longest index makes 16 bytes
# (indexes with fewer digits make shorter keys: 90% of them are 16 bytes at 1 M keys).
last=$((KEYS - 1))
pad=$((10 - ${#last}))
PREFIX=gclat:$(printf '%*s' $((pad > 0 ? pad : 0)) '' | tr ' ' 'x')
WORK=(-keys "$KEYS" -key-prefix "$PREFIX" -value 100)
TRACE_MAX=4194304 # commands traced per phase at most (loadgen run -trace-max)
RUN=(-conns "$CONNS" -pipeline 1 -warmup 1s -duration "$DURATION" -progress=false)
if [ "$RATE" != 0 ]; then
  RUN+=(-rate "$RATE")
  LOOP="an open loop at $RATE commands/s over all $CONNS connections: each command leaves at a send time fixed
   in advance (evenly spaced per connection), and its latency counts from that intended time, so a stall of the
   server delays every command due during it, not only the one in flight (no coordinated omission)"
else
  LOOP="a closed loop, one command per round trip per connection (each connection sends its next command when
   the reply came)"
fi

scrape() {
  curl -sS "http://$ADMIN/metrics" | awk '
    $1 == "go_gc_duration_seconds_count" {n = $2}
    $1 == "go_gc_forced_count" {f = $2}
    $1 == "go_gc_duration_seconds_sum" {p = $2}
    $1 == "go_memstats_heap_inuse_bytes" {h = $2}
    $1 == "sidecache_memory_used_bytes" {u = $2}
    $1 == "sidecache_memory_rss_bytes" {r = $2}
    END {print n, f, p, h, u, r}'
}

echo "== load $KEYS keys (prefix $PREFIX)" >&2
t0=$(date +%s.%N)
./bin/loadgen run "${WORK[@]}" -prefill -read 1 -conns 4 -duration 1ms -warmup 0 -progress=false "unix://$SOCK" >"$TMP/load.txt"
t1=$(date +%s.%N)
LOAD_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
DBSIZE=$(redis-cli -s "$SOCK" dbsize)
read -r _ _ _ HEAP0 USED0 RSS0 < <(scrape)

# phase NAME KIND READ: one measured closed loop; KIND B and WF run the forcer alongside, C
# and D the controls.
echo "phase,kind,read,ops_per_sec,p50_us,p99_us,p999_us,max_us,gc_cycles,gc_forced,gc_pause_ms,heap_inuse_bytes,elapsed_s" >"$TMP/phases.csv"
phase() {
  local name=$1 kind=$2 read=$3
  read -r n0 f0 p0 _ < <(scrape)
  local path=
  case $kind in B | WF) path="gc?" ;; C) path="heap?gc=0&" ;; D) path="cmdline?" ;; esac
  if [ -n "$path" ]; then
    curl -sS --rate "$GC_RATE/s" -o /dev/null "http://$ADMIN/debug/pprof/${path}n=[1-10000000]" >/dev/null 2>&1 &
    FORCER=$!
  fi
  local s0 s1
  s0=$(date +%s.%N)
  ./bin/loadgen run "${WORK[@]}" "${RUN[@]}" -read "$read" -out "$TMP/json" -trace "$TRACE" -trace-max "$TRACE_MAX" "$name=unix://$SOCK" >/dev/null
  s1=$(date +%s.%N)
  if [ -n "$FORCER" ]; then kill "$FORCER" 2>/dev/null || true; wait "$FORCER" 2>/dev/null || true; FORCER=; fi
  curl -sS -o "$TRACE/$name.cycles" "http://$ADMIN/debug/gc-cycles"
  PHASES+=("$name")
  read -r n1 f1 p1 h1 _ < <(scrape)
  jq -r --arg name "$name" --arg kind "$kind" --arg read "$read" \
    --arg gc $((n1 - n0)) --arg forced $((f1 - f0)) \
    --arg pause "$(awk -v a="$p0" -v b="$p1" 'BEGIN{printf "%.2f", (b-a)*1000}')" \
    --arg heap "$h1" --arg el "$(awk -v a="$s0" -v b="$s1" 'BEGIN{printf "%.1f", b-a}')" \
    '[$name, $kind, $read, (.ops_per_sec|floor), .latency.p50_us, .latency.p99_us, .latency.p99_9_us, .latency.max_us, $gc, $forced, $pause, $heap, $el] | @csv' \
    "$TMP/json/$name.json" | tr -d '"' >>"$TMP/phases.csv"
  echo "  $(tail -1 "$TMP/phases.csv")" >&2
}

echo "== A/B/C/D phases: GETs, $CONNS connections, $DURATION each" >&2
PHASES=()
for i in $(seq "$PAIRS"); do
  phase "A$i" A 1
  phase "B$i" B 1
  phase "C$i" C 1
  phase "D$i" D 1
done
for i in $(seq "$WPAIRS"); do
  phase "W$i" W 0.5
  phase "WF$i" WF 0.5
done
read -r _ _ _ HEAPN _ RSSN < <(scrape)
cp "$TMP/phases.csv" "$OUT/phases.csv"
./bin/loadgen gc-overlap -control D=B "$TRACE" "${PHASES[@]}" >"$OUT/overlap.md"

# ratio X Y COLUMN: the median over pairs i of Yi/Xi for one column of phases.csv.
ratio() {
  awk -F, -v a="$1" -v b="$2" -v col="$3" 'NR > 1 {k = $2; i = substr($1, length(k) + 1); v[k, i] = $col}
    END {
      n = 0
      for (i = 1; (a, i) in v; i++) if ((b, i) in v && v[a, i] > 0) r[++n] = v[b, i] / v[a, i]
      if (n == 0) {print "—"; exit}
      for (x = 1; x <= n; x++) for (y = x + 1; y <= n; y++) if (r[y] < r[x]) {t = r[x]; r[x] = r[y]; r[y] = t}
      m = (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
      s = ""
      for (x = 1; x <= n; x++) s = s (x > 1 ? ", " : "") sprintf("%.2f", r[x])
      printf "%.2f (%s)", m, s
    }' "$TMP/phases.csv"
}
table() {
  echo "| phase | side process | read share | ops/s | p50 µs | p99 µs | p99.9 µs | max µs | GC cycles (forced) | GC/s | STW pause total ms | STW pause / cycle µs | heap in use after |"
  echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
  awk -F, 'NR > 1 {
    forced = ($2 == "B" || $2 == "WF") ? "/debug/pprof/gc requests" : ($2 == "C" ? "gc=0 requests" : ($2 == "D" ? "cmdline requests" : "none"))
    pc = ($9 > 0) ? sprintf("%.0f", $11 * 1000 / $9) : "—"
    printf "| %s | %s | %s | %d | %.1f | %.1f | %.1f | %.0f | %d (%d) | %.0f | %s | %s | %.1f MiB |\n",
      $1, forced, $3, $4, $5, $6, $7, $8, $9, $10, $9 / $13, $11, pc, $12 / 1048576 }' "$TMP/phases.csv"
}
fmt_mib() { awk -v b="$1" 'BEGIN{printf "%.1f MiB", b/1048576}'; }

machine=$(head -1 "$TMP/load.txt")
{
  echo "# GC independence under load: GET latency while the GC runs"
  echo
  echo "Produced by \`${GCLAT_TARGET:-make gc-latency}\` (\`results/gc-latency/run.sh\`, with GCLAT_KEYS=$KEYS GCLAT_PAIRS=$PAIRS" \
       "GCLAT_WRITE_PAIRS=$WPAIRS GCLAT_DURATION=$DURATION GCLAT_CONNS=$CONNS GCLAT_GC_RATE=$GC_RATE GCLAT_RATE=$RATE GCLAT_OUT=$OUT), $(date -u +%Y-%m-%d)," \
       "on $machine; load generator and server share the machine's $(nproc) CPUs."
  echo
  echo "**The machine is shared with other work and noisy** (other processes, e.g. fuzzing, may run at the same time)."
  echo "The phases alternate A B C D A B C D ... so that noise falls on every side; read the ratios round by round,"
  echo "and distrust any single row (the max column above all: one descheduling of the server or the load"
  echo "generator by another process is enough to set it)."
  echo
  echo "## Method"
  echo
  echo "1. \`make build\`; \`bin/sidecache --port 0 --unixsocket PATH --admin-addr 127.0.0.1:0\` (no TCP listener;"
  echo "   the admin HTTP port is chosen by the kernel and read from the log). Other settings are the defaults,"
  echo "   among them background-nice auto, 10 without upstream: every thread but the event loops' runs 10 nice values above them (README)."
  echo "2. Load: \`loadgen run ${WORK[*]} -prefill -read 1 -conns 4 -duration 1ms -warmup 0 unix://PATH\`: every key"
  echo "   SET once, pipelined 64 deep over 4 connections ($LOAD_S s; DBSIZE afterwards: $DBSIZE). Keys are"
  echo "   \`$PREFIX\` + decimal index: 16 bytes for the largest indexes, shorter for fewer digits; values 100 bytes."
  echo "3. Each phase: \`loadgen run ${WORK[*]} ${RUN[*]} -read R unix://PATH\`: $LOOP;"
  echo "   uniform keys (all hits); 1 s of warm-up is not measured."
  echo "   - **A**: GETs (R = 1), no forced GC."
  echo "   - **B**: GETs (R = 1), while \`curl --rate $GC_RATE/s 'http://ADMIN/debug/pprof/gc?n=[1-...]'\`"
  echo "     asks the server for a full blocking collection (runtime.GC() and nothing else)"
  echo "     up to $GC_RATE times a second (a new request starts when the previous one is done and 1/$GC_RATE s has passed).
   - **C**: heap profiles without a forced collection (\`/debug/pprof/heap?gc=0\`, same rate): what an
     allocating side job costs. Writing the profiles allocates, so the server's own (automatic, concurrent) GC still runs
     in C, less often: see its GC column.
   - **D**: a control for the side process itself: the same requests to \`/debug/pprof/cmdline\` (a few hundred
     bytes, little allocation, no profile, no GC forced)."
  if [ "$WPAIRS" -gt 0 ]; then
    echo "   - **W**: half GETs, half SETs (R = 0.5, overwriting loaded keys with 100-byte values), no forced GC: the"
    echo "     server's own GC only."
    echo "   - **WF**: as W, with the forcing side process of B."
  fi
  echo "4. Before and after each phase, \`/metrics\` on the admin address: GC cycles are the delta of"
  echo "   \`go_gc_duration_seconds_count\` (all completed cycles; of them forced: \`go_gc_forced_count\`), STW pause"
  echo "   total the delta of \`go_gc_duration_seconds_sum\`, heap in use \`go_memstats_heap_inuse_bytes\` after the phase."
  echo "   The counts cover the whole phase including its warm-up second; GC/s divides by the phase's wall time."
  echo "5. Requests during and outside a collection, in the same phases: each phase's load generator also runs with"
  echo "   \`-trace DIR\`, keeping every measured command's send time and latency (ns) in a buffer of at most"
  echo "   $TRACE_MAX records allocated before the run (the coverage notes say if any were dropped). The send time is"
  echo "   the load generator's monotonic clock plus one offset to the wall clock (CLOCK_REALTIME) taken when it"
  echo "   starts. The server takes \`time.Now().UnixNano()\` just before and just after each \`runtime.GC()\` that"
  echo "   \`/debug/pprof/gc\` runs and keeps the last 4096 (gcRingSize) such spans; after each of them, and when listed, it also"
  echo "   keeps the STW pause windows of the cycles completed since (its own automatic cycles too), from"
  echo "   \`runtime/debug.ReadGCStats\`: [PauseEnd − Pause, PauseEnd], where Pause is the cycle's total"
  echo "   stop-the-world time and PauseEnd the end of its mark termination. Such a window holds the"
  echo "   mark-termination pause and reaches back by the length of the sweep-termination pause, which itself lies"
  echo "   earlier, at the start of the cycle, in no window. After each phase \`/debug/gc-cycles\` (admin address)"
  echo "   lists both. \`loadgen gc-overlap\` takes each GET (SETs are left out) as the closed interval"
  echo "   [send, send + latency] and puts it in \"a forced collection\" if it shares an instant with one's span,"
  echo "   in \"nothing\" if it shares none with any forced span or pause window; \"a pause window\" cuts across"
  echo "   both. Control: D's GETs are also classified against the same round's B span times, shifted so that B's"
  echo "   first GET falls on D's first GET, when no collection ran. A request of latency L overlaps spans of"
  echo "   length G that recur every P with a probability of about (G + L) / P, so slow requests, whatever made them"
  echo "   slow, land in \"during\" more often than fast ones; the shifted control shows how large that bias"
  echo "   alone makes the gap between \"during\" and \"outside\"."
  echo
  echo "Latency is per command from send to reply, measured by the load generator (HDR histogram); ops/s over all"
  echo "$CONNS connections."
  echo
  echo "## Results"
  echo
  table
  echo
  echo "Ratios, median over the $PAIRS rounds (round by round in brackets):"
  echo
  echo "| | p99.9 | p99 | p50 | ops/s |"
  echo "|---|---|---|---|---|"
  echo "| B/A (forced GC vs nothing) | $(ratio A B 7) | $(ratio A B 6) | $(ratio A B 5) | $(ratio A B 4) |"
  echo "| B/C (forced GC vs heap profiles without forcing) | $(ratio C B 7) | $(ratio C B 6) | $(ratio C B 5) | $(ratio C B 4) |"
  echo "| C/A (heap profiles, the server's own GC vs nothing) | $(ratio A C 7) | $(ratio A C 6) | $(ratio A C 5) | $(ratio A C 4) |"
  echo "| D/A (cheap HTTP requests vs nothing) | $(ratio A D 7) | $(ratio A D 6) | $(ratio A D 5) | $(ratio A D 4) |"
  echo "| B/D (forced GC vs cheap HTTP requests: what the collections add) | $(ratio D B 7) | $(ratio D B 6) | $(ratio D B 5) | $(ratio D B 4) |"
  echo
  if [ "$WPAIRS" -gt 0 ]; then
    echo "Half SETs: WF/W p99.9 $(ratio W WF 7); WF/W ops/s $(ratio W WF 4)."
    echo
  fi
  echo "Reading it: A and W show how often the server collects on its own under GETs and SETs (they allocate"
  echo "nothing on the Go heap, so next to never). B forces a full collection $GC_RATE times a second, far beyond"
  echo "any natural rate, and the heap it marks stays a few MiB with all keys loaded. B and D make the same HTTP"
  echo "requests, so B/D is what the collections themselves add; C shows what an allocating side job (heap"
  echo "profiles, with the automatic collections they cause) costs on $(nproc) CPUs shared with the server's event"
  echo "loops and the load generator. Compare the STW"
  echo "pause per cycle (both pauses of a cycle, averaged over the phase) with the p99.9 shift: when the pause is"
  echo "far below the shift, the tail comes from CPU taken, not from stopping the world (single pauses are not"
  echo "recorded here)."
  echo
  echo "Memory: after the load, used_memory $(fmt_mib "$USED0"), RSS $(fmt_mib "$RSS0"), Go heap in use $(fmt_mib "$HEAP0");"
  echo "after the last phase, RSS $(fmt_mib "$RSSN"), Go heap in use $(fmt_mib "$HEAPN"). The keys live off-heap"
  echo "(DESIGN.md invariant 1), so a full collection marks a few MiB, not the $DBSIZE keys."
  echo
  echo "### GETs whose round trip overlapped a forced collection, and those that overlapped nothing"
  echo
  echo "From the traces of the same phases as above (method step 5; \`loadgen gc-overlap\`, also in \`overlap.md\`)."
  echo "\"share\" is the share of the phase's (or pooled phases') GETs in that row. Read each B row against the"
  echo "\"D vs B times\" row of the same class: the same spans at the same places in a phase of the same HTTP"
  echo "requests, with no collection running. B's \"a forced collection\" against D's \"shifted times of a forced"
  echo "collection\" is what a running collection does to the GETs that overlap it; the gap between \"a forced"
  echo "collection\" and \"nothing\" within B alone also holds the length bias (method step 5). D's \"anything\" row"
  echo "is the phase-level control of the table above."
  echo
  cat "$OUT/overlap.md"
  echo
  echo "Per-phase figures, machine-readable: \`phases.csv\` (latencies in µs)."
} >"$OUT/README.md"
cat "$OUT/README.md"
