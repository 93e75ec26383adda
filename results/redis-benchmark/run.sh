#!/usr/bin/env bash
# Side-by-side redis-benchmark of sidecache and redis-server in one run.
#
#   results/redis-benchmark/run.sh [ROUNDS]      (make bench-redis)
#
# For each cell (transport x clients x pipeline) the two servers are measured alternately,
# A B A B ..., ROUNDS times each, with `redis-benchmark -t get,set -d 64 -r 100000`. Each
# figure is the median over rounds; the table shows sidecache/redis ratios, and server CPU
# seconds per request read from /proc/PID/stat (utime+stime) around each run. The machine is
# shared and noisy: the geometric mean over the cells is the figure that decides.
# Writes results/redis-benchmark/README.md and raw.csv. Starts both servers itself on free
# loopback ports and Unix sockets in a temp dir, and stops them (by PID) on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
# PIN=1: each server on CPU 1, redis-benchmark on CPU 0 (taskset), so the servers get one
# core each, as a sidecar with a CPU limit of 1 does (Go then runs one event loop), and the
# client never competes with them. Results go to results/redis-benchmark/pinned.
PIN=${PIN:-}
OUT=results/redis-benchmark${PIN:+/pinned}
mkdir -p "$OUT"
SRV=(); CLI=()
if [ -n "$PIN" ]; then SRV=(taskset -c 1); CLI=(taskset -c 0); fi
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || shuf -i 20000-60000 -n 1; }

CGO_ENABLED=0 go build -trimpath -o "$TMP/sidecache" ./cmd/sidecache
SC_PORT=$(free_port); RD_PORT=$(free_port)
"${SRV[@]}" "$TMP/sidecache" --port "$SC_PORT" --unixsocket "$TMP/sc.sock" --admin-addr "" --logformat text >"$TMP/sc.log" 2>&1 &
SC_PID=$!; PIDS+=("$SC_PID")
"${SRV[@]}" redis-server --port "$RD_PORT" --bind 127.0.0.1 --unixsocket "$TMP/rd.sock" --save '' --appendonly no \
  --dir "$TMP" --logfile "$TMP/rd.log" &
RD_PID=$!; PIDS+=("$RD_PID")
for i in $(seq 100); do
  redis-cli -p "$SC_PORT" ping >/dev/null 2>&1 && redis-cli -p "$RD_PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# One measured run: prints "test,rps,p50_ms,p99_ms" lines plus "cpu,<seconds per request>".
bench() { # name pid transport clients pipeline requests
  local name=$1 pid=$2 tr=$3 c=$4 p=$5 n=$6 conn
  if [ "$tr" = tcp ]; then
    if [ "$name" = sidecache ]; then conn=(-h 127.0.0.1 -p "$SC_PORT"); else conn=(-h 127.0.0.1 -p "$RD_PORT"); fi
  else
    if [ "$name" = sidecache ]; then conn=(-s "$TMP/sc.sock"); else conn=(-s "$TMP/rd.sock"); fi
  fi
  redis-cli "${conn[@]}" flushall >/dev/null
  local before after
  before=$(cpu_ticks "$pid")
  "${CLI[@]}" redis-benchmark "${conn[@]}" -t get,set -d 64 -r 100000 -n "$n" -c "$c" -P "$p" --csv -q >"$TMP/out.csv"
  after=$(cpu_ticks "$pid")
  # csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  tr -d '"' <"$TMP/out.csv" | awk -F, 'NR>1 {print $1","$2","$5","$7}'
  awk -v d=$((after - before)) -v t="$TICK" -v n="$n" 'BEGIN{printf "cpu,%.9f\n", d/t/(2*n)}'
}

echo "transport,clients,pipeline,round,server,test,rps,p50_ms,p99_ms" >"$OUT/raw.csv"
: >"$TMP/cpu.csv"
for tr in tcp unix; do
  for cell in "1 1 40000" "50 1 200000" "50 16 1000000"; do
    read -r c p n <<<"$cell"
    for r in $(seq "$ROUNDS"); do
      for who in sidecache redis; do
        pid=$SC_PID; [ "$who" = redis ] && pid=$RD_PID
        bench "$who" "$pid" "$tr" "$c" "$p" "$n" | while IFS=, read -r test a b d; do
          if [ "$test" = cpu ]; then echo "$tr,$c,$p,$r,$who,$a" >>"$TMP/cpu.csv"
          else echo "$tr,$c,$p,$r,$who,$test,$a,$b,$d" >>"$OUT/raw.csv"; fi
        done
        echo "  $tr -c $c -P $p round $r $who done" >&2
      done
    done
  done
done
cp "$TMP/cpu.csv" "$OUT/cpu.csv"

# Medians per (cell, server, test), ratios sidecache/redis, geometric means (plain POSIX awk).
awk -F, '
  FNR==1 && FILENAME ~ /raw/ {next}
  FILENAME ~ /raw/ { k=$1","$2","$3","$6; v[k,$5,"rps"]=v[k,$5,"rps"]" "$7; v[k,$5,"p50"]=v[k,$5,"p50"]" "$8; v[k,$5,"p99"]=v[k,$5,"p99"]" "$9; keys[k]=1; next }
  { k=$1","$2","$3; cpu[k,$5]=cpu[k,$5]" "$6; ckeys[k]=1 }
  function med(s,   a,n,i,j,t) { n=split(s,a," "); for(i=1;i<=n;i++)for(j=i+1;j<=n;j++)if(a[j]+0<a[i]+0){t=a[i];a[i]=a[j];a[j]=t}; return (n%2)?a[(n+1)/2]:(a[n/2]+a[n/2+1])/2 }
  function ratio(a,b) { return (b>0)?a/b:0 }
  END {
    for (k in keys) {
      sr=med(v[k,"sidecache","rps"]); rr=med(v[k,"redis","rps"])
      printf "R,%s,%.0f,%.0f,%.3f,%.3f,%.3f\n", k, sr, rr, ratio(sr,rr), ratio(med(v[k,"sidecache","p50"]),med(v[k,"redis","p50"])), ratio(med(v[k,"sidecache","p99"]),med(v[k,"redis","p99"]))
    }
    for (k in ckeys) { sc=med(cpu[k,"sidecache"]); rc=med(cpu[k,"redis"]); printf "C,%s,%.4f,%.4f,%.3f\n", k, sc*1e6, rc*1e6, ratio(sc,rc) }
  }' "$OUT/raw.csv" "$OUT/cpu.csv" | sort -t, -k1,1 -k2,2 -k3,3n -k4,4n -k5,5 >"$TMP/summary.csv"

{
  echo "# redis-benchmark: sidecache vs redis-server, side by side"
  echo
  echo "Command: \`results/redis-benchmark/run.sh $ROUNDS\` (\`make bench-redis\`) on $(nproc) CPUs, $(uname -sr), $(go version | awk '{print $3}'), redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')."
  echo "Each server alternately, $ROUNDS rounds per cell, medians; \`redis-benchmark -t get,set -d 64 -r 100000\`."
  if [ -n "$PIN" ]; then echo "Pinned (\`PIN=1\`): both servers on CPU 1 and redis-benchmark on CPU 0, so sidecache runs one event loop on one core, as under a CPU limit of 1."; else echo "Not pinned: sidecache runs one event loop per CPU ($(nproc)), and the Go runtime one P more (cmd/sidecache/runtimep.go); all processes share the machine's cores."; fi
  echo "Ratios are sidecache / redis: an ops/s ratio above 1, and latency or CPU ratios below 1, favour sidecache."
  echo
  echo "| transport | -c | -P | test | sidecache ops/s | redis ops/s | ops/s ratio | p50 ratio | p99 ratio |"
  echo "|---|---|---|---|---|---|---|---|---|"
  awk -F, '$1=="R" {printf "| %s | %s | %s | %s | %s | %s | %.2f | %.2f | %.2f |\n", $2,$3,$4,$5,$6,$7,$8,$9,$10}' "$TMP/summary.csv"
  echo
  echo "| transport | -c | -P | sidecache CPU µs/request | redis CPU µs/request | CPU ratio |"
  echo "|---|---|---|---|---|---|"
  awk -F, '$1=="C" {printf "| %s | %s | %s | %.3f | %.3f | %.2f |\n", $2,$3,$4,$5,$6,$7}' "$TMP/summary.csv"
  echo
  awk -F, '
    $1=="R" { if ($8>0){q+=log($8);nq++} if ($9>0){a+=log($9);na++} if ($10>0){b+=log($10);nb++} }
    $1=="C" { if ($7>0){c+=log($7);nc++} }
    END { printf "Geometric means over the cells (sidecache/redis): ops/s **%.2f**, p50 **%.2f**, p99 **%.2f**, server CPU per request **%.2f**.\n", exp(q/nq), exp(a/na), exp(b/nb), exp(c/nc) }' "$TMP/summary.csv"
} >"$OUT/README.md"
cat "$OUT/README.md"
