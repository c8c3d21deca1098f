#!/usr/bin/env bash
# Benchmark (c): exporting a large synthetic rootfs (about 50,000 files, 500 MB) to a tar, compose
# against GNU tar with the reproducible flags, in the same run. compose runs a cached (no-op) build of a
# one-package image; GNU tar packs the same installed tree. Two ratios per run:
#   export: compose's rootfs assembly (walk, filter) plus image export (the tar and its sha256) against
#           GNU tar, from the stage times compose prints;
#   whole:  the whole `compose build` command, which also writes the four records (files manifest, SPDX,
#           CycloneDX, provenance: 80 MB of JSON with a sha256 and sha1 for every file), against GNU tar.
# compose also takes the sha256 of the tar it writes (records and OCI need it) and GNU tar does not, so
# a third column times `GNU tar | tee out | sha256sum`, and a third ratio compares the export with it.
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
printf '%-4s %9s %9s %9s %9s %9s %9s %8s %8s %8s %11s %10s\n' run rootfs_s image_s records_s compose_s gnutar_s tar+sha_s export whole exp/sha compose_MB gnutar_MB
for i in $(seq "$RUNS"); do
  # Both write a new file: the previous outputs are removed (and the disk synced) outside the timings,
  # so that neither reuses the other's freed page cache (on a VM, fresh pages cost far more to fill).
  rm -f "$W/out/synth.tar" "$W/gnu.tar"; sync; t0=$(now)
  /usr/bin/time -f '%M' -o "$W/mem1" "$BIN" build recipes/synth.toml --toolchain stub --cache-dir "$W/cache" \
    --format tar -o "$W/out" >/dev/null 2>"$W/err"
  t1=$(now)
  rm -f "$W/out/synth.tar" "$W/gnu.tar"; sync; t1b=$(now)
  /usr/bin/time -f '%M' -o "$W/mem2" tar --sort=name --mtime=@$SDE --clamp-mtime --owner=0 --group=0 --numeric-owner \
    --format=gnu -C "$TREE" -cf "$W/gnu.tar" .
  t2=$(now)
  rm -f "$W/gnu.tar"; sync; t2b=$(now)
  tar --sort=name --mtime=@$SDE --clamp-mtime --owner=0 --group=0 --numeric-owner --format=gnu -C "$TREE" -cf - . \
    | tee "$W/gnu.tar" | sha256sum >/dev/null
  t3=$(now)
  # "built `synth`: ... (1.62s: packages 0.01s, rootfs 0.19s, image 1.01s, records 0.41s)"
  read -r rootfs image records < <(sed -n 's/.*rootfs \([0-9.]*\)s, image \([0-9.]*\)s, records \([0-9.]*\)s).*/\1 \2 \3/p' "$W/err")
  co=$(echo "$t1 - $t0" | bc); gt=$(echo "$t2 - $t1b" | bc)
  gs=$(echo "$t3 - $t2b" | bc)
  ex=$(echo "($rootfs + $image) / $gt" | bc -l); wh=$(echo "$co / $gt" | bc -l); es=$(echo "($rootfs + $image) / $gs" | bc -l)
  printf '%-4s %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %8.3f %8.3f %8.3f %11.1f %10.1f\n' "$i" "$rootfs" "$image" "$records" \
    "$co" "$gt" "$gs" "$ex" "$wh" "$es" "$(echo "$(cat "$W/mem1") / 1024" | bc -l)" "$(echo "$(cat "$W/mem2") / 1024" | bc -l)"
  echo "$ex $wh $es" >> "$W/ratios"
done
awk '{ for (c = 1; c <= 3; c++) { v = $c; s[c] += v; if (NR == 1 || v < lo[c]) lo[c] = v; if (NR == 1 || v > hi[c]) hi[c] = v } }
  END { split("export|whole|export against GNU tar + sha256sum", name, "|")
    for (c = 1; c <= 3; c++) printf "%s ratio: mean %.3f, min %.3f, max %.3f over %d runs (target <= 1.0)\n", name[c], s[c]/NR, lo[c], hi[c], NR }' "$W/ratios"
"$BIN" build recipes/synth.toml --toolchain stub --cache-dir "$W/cache" --format tar -o "$W/out" -q >/dev/null
ls -l "$W/out/synth.tar" "$W/gnu.tar" | awk '{print "bytes:", $5, $9}'
