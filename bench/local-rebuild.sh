#!/usr/bin/env bash
# Benchmark: your own program rebuilt after a one-line change (examples/hello-http on static-nonroot).
#   compose: `compose build examples/hello-http/hello-http.toml` after the change: the tree digest of the
#            local source, the key check of every package, the sandboxed `make` with the musl toolchain,
#            then the rootfs, the OCI archive, the rootfs tar and the SBOMs and provenance;
#   make:    the same `make` of the same change in a copy of src/ with the host's cc -static -Os: the
#            compile and link alone, nothing else;
#   no-op:   `compose build` again with nothing changed.
# Equal work for the program (one C file compiled and linked statically); what compose adds on top is the
# image and its records. Prints each run and the medians and the ratio compose/make, side by side in one run.
# The cold build of the base (toolchain, ca-certificates, tzdata) is done first and not timed.
# usage: bench/local-rebuild.sh [RUNS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
cargo build --release --quiet
BIN=$PWD/target/release/compose
W=$(mktemp -d /tmp/compose-bench-local.XXXXXX)
trap 'rm -rf "$W"' EXIT
cp -a recipes toolchains "$W/"
mkdir -p "$W/examples" "$W/plain"
cp -a examples/hello-http "$W/examples/"
cp -a examples/hello-http/src/. "$W/plain/"
export COMPOSE_CACHE_DIR=${COMPOSE_CACHE_DIR:-$W/cache}
now() { date +%s.%N; }
build() { (cd "$W" && "$BIN" build examples/hello-http/hello-http.toml -q -o out >/dev/null); }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "cold build of the example and its base (not timed)..."
build
printf '%-4s %12s %12s %12s\n' run compose make no-op
: >"$W/c"; : >"$W/m"; : >"$W/n"
for i in $(seq 1 "$RUNS"); do
  # The one-line change: the reply's text, different in every run.
  for f in "$W/examples/hello-http/src/hello-http.c" "$W/plain/hello-http.c"; do
    sed -i -E "s/\"hello( again [0-9]+)? from compose\\\\n\"/\"hello again $i from compose\\\\n\"/" "$f"
  done
  t0=$(now); build; t1=$(now)
  (cd "$W/plain" && make -s CC=cc CFLAGS=-Os LDFLAGS=-static hello-http >/dev/null); t2=$(now)
  build; t3=$(now)
  c=$(awk "BEGIN {print $t1 - $t0}"); m=$(awk "BEGIN {print $t2 - $t1}"); n=$(awk "BEGIN {print $t3 - $t2}")
  echo "$c" >>"$W/c"; echo "$m" >>"$W/m"; echo "$n" >>"$W/n"
  printf '%-4s %11.3fs %11.3fs %11.3fs\n' "$i" "$c" "$m" "$n"
  grep -q "again $i from" "$W/examples/hello-http/src/hello-http.c" || { echo "the change was not made" >&2; exit 1; }
done
C=$(median <"$W/c"); M=$(median <"$W/m"); N=$(median <"$W/n")
printf 'median: compose %.3fs, make alone %.3fs, no-op %.3fs; compose/make = %.2f\n' "$C" "$M" "$N" "$(awk "BEGIN {print $C / $M}")"
