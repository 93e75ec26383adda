#!/usr/bin/env bash
# Offline image check (make image-test). Builds the server, builds deploy/Dockerfile.scratch
# with buildah (no registry, no daemon), then runs the image's root filesystem under bwrap
# as uid/gid 65532 on a read-only root where only the socket directory is writable, in a
# network namespace of its own (loopback only), and checks that it:
#   - answers `sidecache ping` over the Unix socket (the exec probe of the chart),
#   - keeps serving after SIGTERM during shutdown-delay (a legacy sidecar's drain window),
#   - exits 0 on a second SIGTERM and removes its socket file,
#   - wrote nothing outside the socket directory.
# Needs go, buildah, bwrap and setpriv (Debian: apt-get install -y buildah bubblewrap), root
# (buildah's storage) and unprivileged user namespaces (bwrap as uid 65532).
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in go buildah bwrap setpriv; do
  command -v "$tool" >/dev/null || { echo "image-test: $tool not found (apt-get install -y buildah bubblewrap)" >&2; exit 1; }
done

work=$(mktemp -d)
chmod 755 "$work"
bw_pid=""
B=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
cleanup() {
  if [ -n "$bw_pid" ] && kill -0 "$bw_pid" 2>/dev/null; then kill -KILL "$bw_pid" 2>/dev/null || true; fi
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  "${B[@]}" rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "image-test: FAIL: $*" >&2; [ -f "$work/server.log" ] && sed 's/^/  server: /' "$work/server.log" >&2; exit 1; }

echo "== build the binary and the image"
ctx=$work/ctx
mkdir -p "$ctx/rootfs/proc" "$ctx/rootfs/dev" "$ctx/rootfs/var/run/sidecache"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/sidecache" ./cmd/sidecache
"${B[@]}" build --quiet --pull=never -f deploy/Dockerfile.scratch -t localhost/sidecache:image-test "$ctx" >/dev/null

user=$("${B[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' localhost/sidecache:image-test)
entry=$("${B[@]}" inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' localhost/sidecache:image-test)
[ "$user" = "65532:65532" ] || fail "image user is '$user', want 65532:65532"
[ "$entry" = '[/usr/local/bin/sidecache]' ] || fail "entrypoint is $entry"

echo "== unpack the image's root filesystem"
ctr=$("${B[@]}" from --pull-never localhost/sidecache:image-test)
mnt=$("${B[@]}" mount "$ctr")
mkdir "$work/rootfs"
cp -a "$mnt/." "$work/rootfs/"
"${B[@]}" umount "$ctr" >/dev/null
(cd "$work/rootfs" && find . | sort) > "$work/files.before"

# The socket directory: the only writable place, owned by the pod's fsGroup in a cluster.
sock=$work/sock
mkdir -m 0770 "$sock"
chown 65532:65532 "$sock"

# sandbox CMD...: the image's root, read-only; uid/gid 65532 both outside (setpriv) and
# inside (a user namespace mapping 65532 to itself); no network but loopback.
sandbox=(
  setpriv --reuid=65532 --regid=65532 --clear-groups --no-new-privs --
  bwrap --unshare-user --uid 65532 --gid 65532 --unshare-net --unshare-ipc --unshare-uts
    --die-with-parent --new-session
    --ro-bind "$work/rootfs" / --proc /proc --dev /dev --bind "$sock" /var/run/sidecache
    --clearenv --setenv PATH /usr/local/bin
    --setenv SIDECACHE_PORT 0
    --setenv SIDECACHE_UNIXSOCKET /var/run/sidecache/sidecache.sock
    --setenv SIDECACHE_UNIXSOCKETPERM 770
    --setenv SIDECACHE_MAXMEMORY 64mb
    --setenv SIDECACHE_SHUTDOWN_DELAY 1h
    --setenv SIDECACHE_LOGFORMAT json
)

echo "== run as uid 65532 on a read-only root"
# A simple command, not a function, so $! is setpriv's pid, which becomes bwrap's.
"${sandbox[@]}" /usr/local/bin/sidecache >"$work/server.log" 2>&1 &
bw_pid=$!

ping_ok() { "${sandbox[@]}" /usr/local/bin/sidecache ping >/dev/null 2>&1; }
up=""
for _ in $(seq 1 100); do
  if ping_ok; then up=1; break; fi
  kill -0 "$bw_pid" 2>/dev/null || fail "server exited before answering"
  sleep 0.1
done
[ -n "$up" ] || fail "no PONG over the socket after 100 tries"
[ -S "$sock/sidecache.sock" ] || fail "no socket file"
owner=$(stat -c '%u:%g %a' "$sock/sidecache.sock")
[ "$owner" = "65532:65532 770" ] || fail "socket is '$owner', want 65532:65532 770"
echo "PONG over /var/run/sidecache/sidecache.sock; socket $owner"

# The server is bwrap's child (no PID namespace): signal it, not bwrap.
server=$(tr -d ' ' < "/proc/$bw_pid/task/$bw_pid/children")
[ -n "$server" ] && [ "$(cat "/proc/$server/comm")" = sidecache ] || fail "server process not found under bwrap"
ids=$(awk '/^Uid:|^Gid:/ {printf "%s:%s ", $2, $3}' "/proc/$server/status")
[ "$ids" = "65532:65532 65532:65532 " ] || fail "server runs with real:effective uid gid '$ids', want 65532"
echo "server pid $server runs as uid/gid 65532"

echo "== SIGTERM: keeps serving for shutdown-delay"
kill -TERM "$server"
ping_ok || fail "no PONG during shutdown-delay after SIGTERM"

echo "== second SIGTERM: exits 0 and removes the socket"
kill -TERM "$server"
rc=0
wait "$bw_pid" || rc=$?
bw_pid=""
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM, want 0"
[ -z "$(ls -A "$sock")" ] || fail "socket directory not empty after exit: $(ls -A "$sock")"
(cd "$work/rootfs" && find . | sort) > "$work/files.after"
diff -u "$work/files.before" "$work/files.after" >&2 || fail "files appeared in the read-only root"

echo "image-test: 1 passed, 0 failed"
