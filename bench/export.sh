#!/usr/bin/env bash
# Benchmark (c): exporting a large synthetic rootfs (about 50,000 files, 500 MB) to a tar, compose
# against GNU tar with the reproducible flags, in the same run. compose runs a cached (no-op) build of a
# one-package image; GNU tar packs the same installed tree. Each run times compose twice:
#   1 (first): the export memo (CACHE/exports-v1) cleared, so the tar's sha256 is computed, as on the
#              first export of this rootfs;
#   2 (again): the memo kept, as every later no-op build finds it: the tar is written, its digest is
#              the remembered one (src/export/memo.rs).
# Ratios against GNU tar:
#   exp1, exp2:     compose's rootfs assembly (walk, filter) plus image export, from its stage times;
#   whole1, whole2: the whole `compose build` command, which also writes the four records (files
#                   manifest, SPDX, CycloneDX, provenance: 80 MB of JSON with a sha256 and sha1 for every
#                   file);
#   e1/sha:         the first export against `GNU tar | tee out | sha256sum` (both then hash the tar).
# Also the peak memory (max RSS) of both.
# usage: bench/export.sh [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
W=$(mktemp -d /tmp/compose-bench-export.XXXXXX)
[ -n "${BENCH_KEEP:-}" ] || trap 'rm -rf "$W"' EXIT
cargo build --release --quiet
BIN=$PWD/target/release/compose
now() { date +%s.%N; }
SDE=1700000000

# The synthetic package: 500 directories of 100 files, sizes spread from 0 to ~20 KB, 500 MB in all.
mkdir -p "$W/proj/recipes" "$W/proj/toolchains" "$W/src/synth-1.0"
python3 - "$W/src/synth-1.0" <<'PY'
import os, sys, random
root = sys.argv[1]
random.seed(7)
block = os.urandom(1 << 16)
for d in range(500):
    p = os.path.join(root, "share", f"d{d:03}")
    os.makedirs(p)
    for f in range(100):
        n = random.randint(0, 20000)
        with open(os.path.join(p, f"f{f:03}.dat"), "wb") as fh:
            fh.write((block * (n // len(block) + 1))[:n])
PY
tar -C "$W/src" -czf "$W/synth-1.0.tar.gz" synth-1.0
SHA=$(sha256sum "$W/synth-1.0.tar.gz" | cut -d' ' -f1)
cat > "$W/proj/toolchains/stub.toml" <<TOML
[toolchain]
name = "stub"
target = "x86_64-linux-musl"
description = "host cc, nothing to build"
packages = []
[compiler]
host_cc = "cc"
TOML
cat > "$W/proj/recipes/synth.toml" <<TOML
[package]
name = "synth"
version = "1.0"
license = "MIT"
homepage = "https://example.org"
description = "50,000 files for the export benchmark"
[[source]]
url = "file://$W/synth-1.0.tar.gz"
sha256 = "$SHA"
[build]
style = "custom"
install = 'mkdir -p "\$DESTDIR/usr" && cp -a share "\$DESTDIR/usr/"'
[image]
strip = false
TOML
cd "$W/proj"
"$BIN" build recipes/synth.toml --toolchain stub --cache-dir "$W/cache" --format tar -o "$W/out" -q >/dev/null
TREE=$(ls -d "$W"/cache/artifacts-v1/synth-*/tree)
FILES=$(find "$TREE" -type f | wc -l); BYTES=$(du -sb "$TREE" | cut -f1)
echo "synthetic rootfs: $FILES files, $BYTES bytes"
printf '%-4s %8s %8s %8s %8s %8s %8s %8s %8s %7s %7s %7s %7s %7s %9s %9s\n' run gnutar_s tar+sha_s \
  1_rootfs 1_image 1_whole 2_rootfs 2_image 2_whole exp1 exp2 whole1 whole2 e1/sha MB_1 MB_gnutar
# Every timed command starts from the same memory state: the outputs removed and the disk synced, then
# 700 MB of page cache written and freed just before it. On a VM that hands free memory back to its host
# (free page reporting, about 2 s after a free), a command that finds only long-freed pages pays a host
# fault on every page it fills: without this, whichever command ran right after a slow one (the
# `| sha256sum` pipeline) was often twice as slow, for reasons that were not its own.
fresh() {
  rm -f "$W/out/synth.tar" "$W/gnu.tar"; sync
  head -c 700M /dev/zero > "$W/warm"; rm -f "$W/warm"
}
# One compose build of the cached image, from fresh().
compose_run() {
  [ "$1" = first ] && rm -rf "$W/cache/exports-v1"
  fresh; local t0 t1; t0=$(now)
  /usr/bin/time -f '%M' -o "$W/mem.$1" "$BIN" build recipes/synth.toml --toolchain stub --cache-dir "$W/cache" \
    --format tar -o "$W/out" >/dev/null 2>"$W/err"
  t1=$(now)
  # "built `synth`: ... (1.62s: packages 0.01s, rootfs 0.19s, image 1.01s, records 0.41s)"
  read -r rootfs image < <(sed -n 's/.*rootfs \([0-9.]*\)s, image \([0-9.]*\)s, records.*/\1 \2/p' "$W/err")
  echo "$rootfs $image $(echo "$t1 - $t0" | bc)"
}
for i in $(seq "$RUNS"); do
  read -r r1 i1 w1 < <(compose_run first)
  read -r r2 i2 w2 < <(compose_run again)
  fresh; t1b=$(now)
  /usr/bin/time -f '%M' -o "$W/mem2" tar --sort=name --mtime=@$SDE --clamp-mtime --owner=0 --group=0 --numeric-owner \
    --format=gnu -C "$TREE" -cf "$W/gnu.tar" .
  t2=$(now)
  fresh; t2b=$(now)
  tar --sort=name --mtime=@$SDE --clamp-mtime --owner=0 --group=0 --numeric-owner --format=gnu -C "$TREE" -cf - . \
    | tee "$W/gnu.tar" | sha256sum >/dev/null
  t3=$(now)
  gt=$(echo "$t2 - $t1b" | bc); gs=$(echo "$t3 - $t2b" | bc)
  e1=$(echo "($r1 + $i1) / $gt" | bc -l); e2=$(echo "($r2 + $i2) / $gt" | bc -l)
  h1=$(echo "$w1 / $gt" | bc -l); h2=$(echo "$w2 / $gt" | bc -l); es=$(echo "($r1 + $i1) / $gs" | bc -l)
  printf '%-4s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %7.3f %7.3f %7.3f %7.3f %7.3f %9.1f %9.1f\n' "$i" "$gt" "$gs" \
    "$r1" "$i1" "$w1" "$r2" "$i2" "$w2" "$e1" "$e2" "$h1" "$h2" "$es" \
    "$(echo "$(cat "$W/mem.first") / 1024" | bc -l)" "$(echo "$(cat "$W/mem2") / 1024" | bc -l)"
  echo "$e1 $e2 $h1 $h2 $es" >> "$W/ratios"
done
awk '{ for (c = 1; c <= 5; c++) { v = $c; s[c] += v; if (NR == 1 || v < lo[c]) lo[c] = v; if (NR == 1 || v > hi[c]) hi[c] = v } }
  END { split("export, first (tar sha256 computed)|export, again (tar sha256 remembered)|whole build, first|whole build, again|export first, against GNU tar + sha256sum", name, "|")
    for (c = 1; c <= 5; c++) printf "%s: mean %.3f, min %.3f, max %.3f over %d runs (target <= 1.0)\n", name[c], s[c]/NR, lo[c], hi[c], NR }' "$W/ratios"
"$BIN" build recipes/synth.toml --toolchain stub --cache-dir "$W/cache" --format tar -o "$W/out" -q >/dev/null
ls -l "$W/out/synth.tar" "$W/gnu.tar" | awk '{print "bytes:", $5, $9}'
