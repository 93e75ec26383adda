#!/usr/bin/env bash
# What command statistics (commandstats, errorstats, latency histograms, slowlog timing)
# cost: the default build against one built with -tags nostats, whose Exec neither counts
# nor times commands.
#
#   results/stats-overhead/run.sh [ROUNDS]      (make stats-overhead; writes README.md here)
#
# 1. Per command, in-process: BenchmarkExecTiming in both builds, 10 runs each, compared by
#    benchstat (same benchmark names, so each row is "without" vs "with").
# 2. Per request, whole server: both builds serve redis-benchmark alternately, A B A B ...,
#    ROUNDS times per cell, and their CPU seconds (utime+stime from /proc/PID/stat) per
#    request are compared as a ratio of medians. The machine is shared: read 1 for the
#    exact cost and 2 for its share of a request, which 2 can only bound.
# Starts its servers on free loopback ports and stops them (by PID) on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
OUT=results/stats-overhead
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || shuf -i 20000-60000 -n 1; }
BENCHSTAT=(go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da)

echo "== per command, in-process (benchstat)" >&2
go test -tags nostats -run '^$' -bench '^BenchmarkExecTiming/(sampled|all)/' -benchmem -count 10 ./command/ >"$TMP/without.txt"
go test -run '^$' -bench '^BenchmarkExecTiming/(sampled|all)/' -benchmem -count 10 ./command/ >"$TMP/with.txt"
"${BENCHSTAT[@]}" without="$TMP/without.txt" with="$TMP/with.txt" >"$TMP/benchstat.txt"

echo "== per request, whole server" >&2
CGO_ENABLED=0 go build -trimpath -o "$TMP/sidecache-with" ./cmd/sidecache
CGO_ENABLED=0 go build -trimpath -tags nostats -o "$TMP/sidecache-without" ./cmd/sidecache
declare -A PORT PID
for b in with without; do
  PORT[$b]=$(free_port)
  "$TMP/sidecache-$b" --port "${PORT[$b]}" --admin-addr "" --logformat text >"$TMP/$b.log" 2>&1 &
  PID[$b]=$!; PIDS+=("${PID[$b]}")
done
for b in with without; do
  for _ in $(seq 100); do redis-cli -p "${PORT[$b]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
: >"$TMP/cpu.csv"
for cell in "1 1 40000" "50 1 200000" "50 16 1000000"; do
  read -r c p n <<<"$cell"
  for r in $(seq "$ROUNDS"); do
    for b in with without; do
      before=$(cpu_ticks "${PID[$b]}")
      redis-benchmark -p "${PORT[$b]}" -t get,set -d 64 -r 100000 -n "$n" -c "$c" -P "$p" -q >/dev/null
      after=$(cpu_ticks "${PID[$b]}")
      awk -v c="$c" -v p="$p" -v b="$b" -v d=$((after - before)) -v t="$TICK" -v n="$n" \
        'BEGIN{printf "%s,%s,%s,%.9f\n", c, p, b, d/t/(2*n)}' >>"$TMP/cpu.csv"
    done
    echo "  -c $c -P $p round $r" >&2
  done
done

{
  echo "# Command statistics: what they cost"
  echo
  echo "Written by \`results/stats-overhead/run.sh $ROUNDS\` (\`make stats-overhead\`); not edited by hand."
  echo "\"without\" is a build with \`-tags nostats\`, whose Exec neither counts nor times commands;"
  echo "\"with\" is the default build: per-loop counters for every call, and the clock read twice for a"
  echo "command that is alone in its read, else for one call in 32 of a client's pipelined fast commands."
  echo
  echo "## Per command, in-process"
  echo
  echo "\`BenchmarkExecTiming\`, 10 runs of each build, compared by benchstat. *sampled* is Exec as"
  echo "pipelined commands get it; *all* is every call timed, as a command alone in its read gets it."
  echo
  echo '```'
  cat "$TMP/benchstat.txt"
  echo '```'
  echo
  echo "## Per request, whole server"
  echo
  echo "Server CPU seconds (utime+stime) per request, both builds serving \`redis-benchmark -t get,set -d 64"
  echo "-r 100000\` over loopback TCP alternately, $ROUNDS rounds per cell; medians, and their ratio."
  echo
  echo "| clients | pipeline | with (µs/request) | without (µs/request) | with / without |"
  echo "|---|---|---|---|---|"
  for cell in "1 1" "50 1" "50 16"; do
    read -r c p <<<"$cell"
    w=$(awk -F, -v c="$c" -v p="$p" '$1==c && $2==p && $3=="with" {print $4}' "$TMP/cpu.csv" | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
    o=$(awk -F, -v c="$c" -v p="$p" '$1==c && $2==p && $3=="without" {print $4}' "$TMP/cpu.csv" | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
    awk -v c="$c" -v p="$p" -v w="$w" -v o="$o" 'BEGIN{printf "| %s | %s | %.2f | %.2f | %.3f |\n", c, p, w*1e6, o*1e6, w/o}'
  done
  echo
  echo "Machine: $(nproc) CPUs, kernel $(uname -r), $(go version | cut -d' ' -f3), $(redis-benchmark --version | head -1)."
} >"$OUT/README.md"
cp "$TMP/cpu.csv" "$OUT/cpu.csv"
cat "$OUT/README.md"
