#!/usr/bin/env bash
# background-nice on (the default, 10) against off (0), side by side in one run.
#
#   results/thread-priority/run.sh [ROUNDS]      (make thread-priority)
#
# Two sidecache servers run at once on Unix sockets, one with --background-nice 10 and one
# with --background-nice 0, both loaded with the same 1 M keys (16-byte keys, 100-byte
# values). Each round measures, for each server in turn (X then Y in odd rounds, Y then X in
# even ones), three closed-loop GET phases with the project's load generator:
#   saturated: 4 connections, one GET in flight each: the 2 CPUs busy, no forced collection;
#   light:     1 connection: no forced collection;
#   light+gc:  1 connection, while curl asks that server's /debug/pprof/gc (a full, blocking
#              collection) up to 20 times a second.
# Figures per phase come from the load generator (HDR histogram, send to reply); the README
# shows every round and the median over rounds of each on/off ratio. Servers are stopped by
# PID on exit; traffic stays on Unix sockets and loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."
. results/admin.sh
ROUNDS=${1:-4}
DURATION=${TP_DURATION:-8s}
OUT=results/thread-priority
KEYS=1000000
TMP=$(mktemp -d)
PIDS=()
FORCER=
cleanup() {
  [ -n "$FORCER" ] && kill "$FORCER" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

make build >&2
declare -A ADMIN NICE=([X]=10 [Y]=0)
for n in X Y; do
  ./bin/sidecache --port 0 --unixsocket "$TMP/$n.sock" --admin-addr 127.0.0.1:0 --background-nice "${NICE[$n]}" \
    --logformat text >"$TMP/$n.log" 2>&1 &
  PIDS+=($!)
done
for n in X Y; do
  ADMIN[$n]=$(wait_admin "$TMP/$n.log" "$TMP/$n.sock") || { echo "server $n did not start" >&2; exit 1; }
done
WORK=(-keys "$KEYS" -key-prefix gclat:xxxx -value 100)
for n in X Y; do
  ./bin/loadgen run "${WORK[@]}" -prefill -read 1 -conns 4 -duration 1ms -warmup 0 -progress=false "unix://$TMP/$n.sock" >/dev/null
done

echo "round,phase,server,background_nice,ops_per_sec,p50_us,p99_us,p999_us,max_us" >"$TMP/raw.csv"
measure() { # round phase server conns
  local r=$1 ph=$2 n=$3 conns=$4
  if [ "$ph" = light+gc ]; then
    curl -sS --rate 20/s -o /dev/null "http://${ADMIN[$n]}/debug/pprof/gc?n=[1-10000000]" >/dev/null 2>&1 &
    FORCER=$!
  fi
  ./bin/loadgen run "${WORK[@]}" -read 1 -conns "$conns" -pipeline 1 -warmup 1s -duration "$DURATION" -progress=false \
    "$n=unix://$TMP/$n.sock" |
    awk -v r="$r" -v ph="$ph" -v n="$n" -v nice="${NICE[$n]}" '$1 == n {print r "," ph "," n "," nice "," $2 "," $3 "," $5 "," $6 "," $8}' >>"$TMP/raw.csv"
  if [ -n "$FORCER" ]; then
    kill "$FORCER" 2>/dev/null || true
    wait "$FORCER" 2>/dev/null || true
    FORCER=
  fi
}
for r in $(seq "$ROUNDS"); do
  echo "== round $r" >&2
  order="X Y"
  [ $((r % 2)) = 0 ] && order="Y X" # so that what comes first or second falls on both
  for ph in saturated light light+gc; do
    conns=1
    [ "$ph" = saturated ] && conns=4
    for n in $order; do measure "$r" "$ph" "$n" "$conns"; done
  done
done
mkdir -p "$OUT"
cp "$TMP/raw.csv" "$OUT/raw.csv"

{
  echo "# Thread priority: background-nice 10 (the default) against 0, side by side"
  echo
  echo "Command: \`results/thread-priority/run.sh $ROUNDS\` (\`make thread-priority\`) on $(nproc) CPUs, $(uname -sr)," \
       "$(go version | awk '{print $3}'), $(date -u +%Y-%m-%d). Load generator and both servers share the machine's CPUs."
  echo
  echo "X runs \`--background-nice 10\`: its event loops locked to their threads, every other thread (the garbage"
  echo "collector's workers, timers, the admin HTTP server) 10 nice values above them. Y runs \`--background-nice 0\`:"
  echo "threads as Go runs them. Both hold the same $KEYS keys (100-byte values). Per round, each phase runs on both"
  echo "servers, X first in odd rounds and Y first in even ones: GETs of uniformly chosen keys in closed loops (one GET in flight per connection), 1 s warm-up, $DURATION"
  echo "measured. **saturated**: 4 connections, no forced collection; **light**: 1 connection; **light+gc**: 1"
  echo "connection while \`curl --rate 20/s\` asks that server's \`/debug/pprof/gc\` for a full collection."
  echo "Latency per GET from send to reply (µs)."
  echo
  echo "| round | phase | server | ops/s | p50 µs | p99 µs | p99.9 µs | max µs |"
  echo "|--:|---|---|--:|--:|--:|--:|--:|"
  tail -n +2 "$OUT/raw.csv" | awk -F, '{printf "| %s | %s | %s (nice %s) | %.0f | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}'
  echo
  echo "X/Y ratios, median over the rounds (round by round in brackets); below 1 is better for X except ops/s:"
  echo
  echo "| phase | ops/s | p50 | p99 | p99.9 |"
  echo "|---|---|---|---|---|"
  for ph in saturated light light+gc; do
    tail -n +2 "$OUT/raw.csv" | awk -F, -v ph="$ph" '
      $2 == ph { v[$1 "," $3 ",5"] = $5; v[$1 "," $3 ",6"] = $6; v[$1 "," $3 ",7"] = $7; v[$1 "," $3 ",8"] = $8; if ($1 > R) R = $1 }
      function med(a, n,   i, j, t) {
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      }
      END {
        line = "| " ph
        for (c = 5; c <= 8; c++) {
          delete a; list = ""
          for (r = 1; r <= R; r++) { a[r] = v[r ",X," c] / v[r ",Y," c] }
          for (r = 1; r <= R; r++) s[r] = a[r]
          m = med(s, R)
          for (r = 1; r <= R; r++) list = list (r > 1 ? ", " : "") sprintf("%.2f", a[r])
          line = line sprintf(" | %.2f (%s)", m, list)
        }
        print line " |"
      }'
  done
  echo
  echo "Machine-readable: \`raw.csv\`."
} >"$OUT/README.md"
cat "$OUT/README.md"
