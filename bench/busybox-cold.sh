#!/usr/bin/env bash
# Benchmark (a)+(b): a cold `compose build recipes/busybox.toml` against the hand-made serial baseline
# (../shared/bench/handmade-busybox.sh), measured in the same run on the same machine, then a no-op
# rebuild. Both start from the same three tarballs already on disk, so only building is timed.
# usage: bench/busybox-cold.sh [RUNS]   (default 3; prints one line per run, then the ratios' spread)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
HANDMADE=${HANDMADE:-../shared/bench/handmade-busybox.sh}
W=$(mktemp -d /tmp/compose-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
cargo build --release --quiet
BIN=$PWD/target/release/compose
now() { date +%s.%N; }

# Fetch the tarballs once (the hand-made script does it), then seed compose's content-addressed cache.
"$HANDMADE" "$W/warm" "$W/dl" >/dev/null 2>&1 || { echo "handmade baseline failed"; exit 1; }
seed() {
  mkdir -p "$1/sources-v1"
  for f in "$W"/dl/*; do cp "$f" "$1/sources-v1/$(sha256sum "$f" | cut -d' ' -f1)"; done
}

printf '%-4s %12s %12s %8s %12s %12s\n' run handmade_s compose_s ratio compose_cpu_s noop_s
for i in $(seq "$RUNS"); do
  rm -rf "$W/hm" "$W/cache"
  t0=$(now); "$HANDMADE" "$W/hm" "$W/dl" >/dev/null; t1=$(now)
  seed "$W/cache"
  t2=$(now)
  /usr/bin/time -f '%U %S' -o "$W/cpu" "$BIN" build recipes/busybox.toml --cache-dir "$W/cache" -o "$W/out1" -q >/dev/null
  t3=$(now)
  "$BIN" build recipes/busybox.toml --cache-dir "$W/cache" -o "$W/out2" -q >/dev/null
  t4=$(now)
  cmp -s "$W/out1/busybox.tar" "$W/out2/busybox.tar" || { echo "no-op rebuild is not byte-identical"; exit 1; }
  hm=$(echo "$t1 - $t0" | bc); co=$(echo "$t3 - $t2" | bc); noop=$(echo "$t4 - $t3" | bc)
  cpu=$(awk '{print $1 + $2}' "$W/cpu")
  ratio=$(echo "$co / $hm" | bc -l)
  printf '%-4s %12.1f %12.1f %8.3f %12.1f %12.3f\n' "$i" "$hm" "$co" "$ratio" "$cpu" "$noop"
  echo "$ratio $noop" >> "$W/ratios"
done
awk '{r[NR]=$1; n[NR]=$2; s+=$1; ns+=$2} END {
  min=r[1]; max=r[1]; for (i in r) { if (r[i]<min) min=r[i]; if (r[i]>max) max=r[i] }
  nmin=n[1]; nmax=n[1]; for (i in n) { if (n[i]<nmin) nmin=n[i]; if (n[i]>nmax) nmax=n[i] }
  printf "cold ratio (compose / handmade): mean %.3f, min %.3f, max %.3f over %d runs (target <= 0.85)\n", s/NR, min, max, NR
  printf "no-op rebuild: mean %.3f s, min %.3f, max %.3f (target <= 0.5 s)\n", ns/NR, nmin, nmax }' "$W/ratios"
ls -l "$W/out1/busybox.tar" | awk '{print "tarball bytes:", $5}'
sha256sum "$W/out1/busybox.tar" | awk '{print "tarball sha256:", $1}'
