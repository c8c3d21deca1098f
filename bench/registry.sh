#!/usr/bin/env bash
# Benchmark: the registry as a shared artifact cache and as the image's destination, on loopback.
#   A: a cold busybox build (empty cache, sources fetched beforehand and not timed) with --cache-push,
#      which uploads every artifact it built;
#   B: the same build on a "second machine" (an empty cache, --offline, no sources) with --cache: every
#      package comes from the registry. Target: under 5 s.
#   push: `compose push` of busybox to a fresh repository (first), then again (second: nothing moves).
# Prints each run's times and the ratios A/B and first/second, side by side in one run.
# Needs Debian's docker-registry (started here on a free 127.0.0.1 port, plain HTTP, storage in a temp dir).
# usage: bench/registry.sh [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
command -v docker-registry >/dev/null || { echo "apt-get install docker-registry" >&2; exit 1; }
W=$(mktemp -d /tmp/compose-bench-registry.XXXXXX)
REG_PID=
cleanup() { [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
cargo build --release --quiet
BIN=$PWD/target/release/compose
now() { date +%s.%N; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$W/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $W/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$PORT}
EOF
docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done
REG=127.0.0.1:$PORT
export HOME=$W/home REGISTRY_AUTH_FILE=$W/auth.json
mkdir -p "$HOME"

"$BIN" fetch recipes/busybox.toml --cache-dir "$W/sources" -q >/dev/null
secs() { echo "$2 - $1" | bc; }
printf '%-4s %10s %10s %8s %12s %12s %8s\n' run A_cold_s B_remote_s A/B push1_s push2_s 1/2
for i in $(seq "$RUNS"); do
  rm -rf "$W/cacheA" "$W/cacheB" "$W/outA" "$W/outB" "$W/registry"
  mkdir -p "$W/cacheA"
  cp -al "$W/sources/sources-v1" "$W/cacheA/sources-v1"
  t0=$(now)
  "$BIN" build recipes/busybox.toml --cache-dir "$W/cacheA" -o "$W/outA" --format tar,oci -q \
    --cache "$REG/cache" --cache-push --tls-verify=false >/dev/null
  t1=$(now)
  COMPOSE_DEBIAN_MIRROR=file:///nonexistent "$BIN" build recipes/busybox.toml --cache-dir "$W/cacheB" \
    -o "$W/outB" --format tar,oci -q --offline --cache "$REG/cache" --tls-verify=false >/dev/null
  t2=$(now)
  cmp "$W/outA/busybox.tar" "$W/outB/busybox.tar"
  "$BIN" push "$W/outA/busybox.oci" "$REG/bench/busybox:$i" --tls-verify=false --cache-dir "$W/cacheA" >/dev/null 2>&1
  t3=$(now)
  "$BIN" push "$W/outA/busybox.oci" "$REG/bench/busybox:$i" --tls-verify=false --cache-dir "$W/cacheA" \
    2>"$W/push2.log" >/dev/null
  t4=$(now)
  grep -q "nothing uploaded" "$W/push2.log" || { cat "$W/push2.log"; exit 1; }
  a=$(secs "$t0" "$t1"); b=$(secs "$t1" "$t2"); p1=$(secs "$t2" "$t3"); p2=$(secs "$t3" "$t4")
  printf '%-4s %10.2f %10.2f %8.1f %12.3f %12.3f %8.1f\n' "$i" "$a" "$b" "$(echo "$a / $b" | bc -l)" \
    "$p1" "$p2" "$(echo "$p1 / $p2" | bc -l)"
  echo "$b" >> "$W/b"
done
awk '{s+=$1; if (NR==1||$1>m) m=$1} END {printf "B from the registry: mean %.2f s, max %.2f s over %d runs (target < 5 s)\n", s/NR, m, NR}' "$W/b"
du -sh "$W/registry" | awk '{print "registry storage after one run:", $1}'
