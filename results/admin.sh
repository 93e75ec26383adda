# Sourced by results/*/run.sh.
#
# wait_admin LOG SOCK: waits (up to 10 s) until the sidecache that logs to LOG (text format)
# has logged its admin address and answers PING on the Unix socket SOCK; prints the admin
# address, or prints LOG to stderr and returns 1.
wait_admin() {
  local log=$1 sock=$2 addr=
  for _ in $(seq 100); do
    addr=$(sed -n 's/.*msg="admin endpoint" addr=\([0-9.:]*\).*/\1/p' "$log")
    [ -n "$addr" ] && [ -S "$sock" ] && redis-cli -s "$sock" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$log" >&2; return 1; }
  echo "$addr"
}
