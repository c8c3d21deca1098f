#!/usr/bin/env bash
# Benchmark (d): the whole recipe collection, cold, in one compose run: how well the scheduler keeps
# every core busy, as CPU time over (wall time x cores). Target: >= 0.9. Sources are fetched first and
# not timed (only building counts).
# usage: bench/collection.sh [RUNS]   (default 3)
#        PLATFORM=linux/arm64 bench/collection.sh   (the same, cross-built for that platform)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
W=$(mktemp -d /tmp/compose-bench-all.XXXXXX)
trap 'rm -rf "$W"' EXIT
cargo build --release --quiet
BIN=$PWD/target/release/compose
CORES=$(nproc)
now() { date +%s.%N; }

# One image recipe holding every package recipe, in a copy of the project.
mkdir -p "$W/proj"
cp -r recipes toolchains "$W/proj/"
pkgs=$(grep -l '^\[package\]' "$W"/proj/recipes/*.toml | xargs -n1 basename | sed 's/\.toml$//' | sort)
list=$(printf '"%s", ' $pkgs); list=${list%, }
printf '[image]\nname = "all"\npackages = [%s]\nskeleton = true\n' "$list" > "$W/proj/recipes/all.toml"
echo "packages: $(echo $pkgs | wc -w): $(echo $pkgs)${PLATFORM:+ (for $PLATFORM)}"
cd "$W/proj"
"$BIN" fetch recipes/all.toml --cache-dir "$W/sources" -q >/dev/null
printf '%-4s %10s %10s %10s %12s\n' run wall_s cpu_s cores "cpu/(wall*n)"
for i in $(seq "$RUNS"); do
  rm -rf "$W/cache"; mkdir -p "$W/cache"; cp -al "$W/sources/sources-v1" "$W/cache/sources-v1"
  t0=$(now)
  /usr/bin/time -f '%U %S' -o "$W/cpu" "$BIN" build recipes/all.toml ${PLATFORM:+--platform "$PLATFORM"} --cache-dir "$W/cache" -o "$W/out" --timings -q >/dev/null
  t1=$(now)
  wall=$(echo "$t1 - $t0" | bc); cpu=$(awk '{print $1 + $2}' "$W/cpu")
  eff=$(echo "$cpu / ($wall * $CORES)" | bc -l)
  printf '%-4s %10.1f %10.1f %10s %12.3f\n' "$i" "$wall" "$cpu" "$CORES" "$eff"
  echo "$eff" >> "$W/effs"
  cp "$W/out/timings/all.timings.html" "/tmp/compose-collection-timings-$i.html"
done
awk '{r[NR]=$1; s+=$1} END { min=r[1]; max=r[1]; for (i in r) { if (r[i]<min) min=r[i]; if (r[i]>max) max=r[i] }
  printf "utilisation cpu/(wall*cores): mean %.3f, min %.3f, max %.3f over %d runs (target >= 0.9)\n", s/NR, min, max, NR }' "$W/effs"
echo "timings reports: /tmp/compose-collection-timings-*.html"
