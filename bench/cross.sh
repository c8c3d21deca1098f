#!/usr/bin/env bash
# Benchmark: a cold busybox for amd64 and arm64 in ONE compose run (one graph, one jobserver, both
# toolchains building side by side) against the cold amd64 build alone, side by side in each run.
# Target: ratio <= 1.8 (two platforms' work, less what overlaps). Sources are fetched once and not timed.
# Then, with ALL=1, the whole collection cold for arm64 (bench/collection.sh with PLATFORM=linux/arm64).
# usage: bench/cross.sh [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
W=$(mktemp -d /tmp/compose-bench-cross.XXXXXX)
trap 'rm -rf "$W"' EXIT
cargo build --release --quiet
BIN=$PWD/target/release/compose
now() { date +%s.%N; }

"$BIN" fetch recipes/busybox.toml --cache-dir "$W/sources" -q >/dev/null
fresh() { rm -rf "$W/cache"; mkdir -p "$W/cache"; cp -al "$W/sources/sources-v1" "$W/cache/sources-v1"; }
cold() { # PLATFORMS -> seconds, CPU seconds in $W/cpu
  fresh
  local t0 t1
  t0=$(now)
  /usr/bin/time -f '%U %S' -o "$W/cpu" "$BIN" build recipes/busybox.toml --platform "$1" --format tar \
    --cache-dir "$W/cache" -o "$W/out" -q >/dev/null
  t1=$(now)
  echo "$t1 - $t0" | bc
}

printf '%-4s %12s %16s %8s %14s\n' run amd64_s amd64+arm64_s ratio both_cpu_s
for i in $(seq "$RUNS"); do
  one=$(cold linux/amd64)
  both=$(cold linux/amd64,linux/arm64)
  cpu=$(awk '{print $1 + $2}' "$W/cpu")
  ratio=$(echo "$both / $one" | bc -l)
  printf '%-4s %12.1f %16.1f %8.3f %14.1f\n' "$i" "$one" "$both" "$ratio" "$cpu"
  echo "$ratio" >> "$W/ratios"
done
sha256sum "$W/out"/busybox-*.tar | awk '{print "sha256", $2, $1}'
awk '{r[NR]=$1; s+=$1} END { min=r[1]; max=r[1]; for (i in r) { if (r[i]<min) min=r[i]; if (r[i]>max) max=r[i] }
  printf "amd64+arm64 / amd64 alone: mean %.3f, min %.3f, max %.3f over %d runs (target <= 1.8)\n", s/NR, min, max, NR }' "$W/ratios"
if [ "${ALL:-0}" = 1 ]; then
  PLATFORM=linux/arm64 bench/collection.sh "$RUNS"
fi
