#!/usr/bin/env bash
# Benchmark: `compose vulns` on a year-sized NVD feed, against the floor any reader of that feed pays:
# Python's `json.load` of the same file. The feed is synthetic (50,000 CVEs in the real NVD CVE API 2.0
# schema, seeded, so every run and machine reads the same bytes): NVD's yearly files are of this size,
# and a generated one needs no network and carries known answers (which CVEs must match the toolkit).
# Timed, side by side in one run, each RUNS times (interleaved, so drift hits all alike), page cache warm:
#   compose:  `compose vulns recipes/toolkit.toml --feed FEED --format json` (a recipe target: nothing
#             is built), the feed plain and gzip'd; also `out/toolkit.cdx.json` when an earlier
#             `compose build recipes/toolkit.toml` left it (the image read through its SBOM);
#   python:   `json.load` of the plain feed, and of the gzip'd one through `gzip.open`, each in its own
#             process: parsing only, no matching.
# Prints every run's wall time and peak RSS (GNU time), then the medians and the ratios compose/python.
# Nothing is asserted: the numbers are for reading.
# usage: bench/vulns.sh [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
W=$(mktemp -d /tmp/compose-bench-vulns.XXXXXX)
[ -n "${BENCH_KEEP:-}" ] || trap 'rm -rf "$W"' EXIT
# GNU time gives the peak RSS of one command (%M, KiB); bash's `time` keyword cannot.
if [ ! -x /usr/bin/time ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
cargo build --release --quiet
BIN=$PWD/target/release/compose

# The feed. Real NVD records, in the proportions of a recent year: most CVEs name products of other
# vendors (thousands of them), about 10% are not analysed yet (no configurations), a few are rejected;
# some configurations are "running on" a platform (an AND of an OR node of the application and an OR
# node of non-vulnerable platforms). 0.5% name the toolkit's packages (recipes/*.toml `cpe`), mostly
# with ranges fixed before the version the recipes pin, about one in eight with a range that holds it.
python3 - "$W/nvd.json" > "$W/expected" <<'PY'
import json, random, sys, uuid

rng = random.Random(20260101)
N = 50_000

# vendor, product, the version the recipe pins, older releases (for ranges that end before it).
# Runtime packages of recipes/toolkit.toml (True), and zlib and musl (False), linked statically into
# them: compose checks both, and the two counts are printed apart.
TOOLKIT = [
    ("busybox", "busybox", "1.37.0", ["1.20.0", "1.24.1", "1.27.2", "1.30.1", "1.33.0", "1.34.1", "1.35.0", "1.36.1"], True),
    ("dropbear_ssh_project", "dropbear_ssh", "2025.89", ["2016.74", "2018.76", "2020.81", "2022.82", "2024.84", "2024.86"], True),
    ("jqlang", "jq", "1.7.1", ["1.5", "1.6", "1.7rc1", "1.7"], True),
    ("lua", "lua", "5.4.7", ["5.1.5", "5.2.4", "5.3.6", "5.4.0", "5.4.4", "5.4.6"], True),
    ("sqlite", "sqlite", "3.46.1", ["3.31.1", "3.37.2", "3.40.1", "3.42.0", "3.44.0", "3.45.3", "3.46.0"], True),
    ("strace_project", "strace", "6.1", ["4.26", "5.10", "5.19", "6.0"], True),
    ("zlib", "zlib", "1.3.1", ["1.2.11", "1.2.12", "1.2.13", "1.3"], False),
    ("musl-libc", "musl", "1.2.5", ["1.1.24", "1.2.2", "1.2.3", "1.2.4"], False),
]

SYL = ["ab", "ac", "al", "an", "ar", "ba", "be", "bo", "ca", "co", "da", "de", "di", "el", "en", "er", "fa",
       "fi", "ga", "go", "ha", "in", "is", "ka", "ko", "la", "le", "li", "lo", "ma", "me", "mi", "mo", "na",
       "ne", "no", "on", "or", "pa", "pe", "po", "ra", "re", "ri", "ro", "sa", "se", "so", "ta", "te", "ti",
       "to", "un", "ur", "va", "ve", "vi", "xo", "ya", "ze", "zu"]
def word(n):
    return "".join(rng.choice(SYL) for _ in range(n))
# About 3,000 vendors with 1 to 4 products each: a CVE names one of about 7,500 products.
PRODUCTS = []
for _ in range(3000):
    vendor = word(rng.randint(2, 4))
    for _ in range(rng.randint(1, 4)):
        PRODUCTS.append((vendor, word(rng.randint(2, 4)) + rng.choice(["", "_server", "_plugin", "_cms", "_firmware"])))
PLATFORMS = ["cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*", "cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*",
             "cpe:2.3:o:apple:macos:-:*:*:*:*:*:*:*", "cpe:2.3:o:google:android:-:*:*:*:*:*:*:*"]
WORDS = ("a an the in of to via allows remote attackers authenticated users could crafted request buffer "
         "overflow heap use after free cross site scripting sql injection path traversal denial service "
         "component function parameter file module arbitrary code execution memory corruption improper "
         "validation input handling before version when processing leads information disclosure").split()
CWES = ["CWE-79", "CWE-89", "CWE-787", "CWE-416", "CWE-22", "CWE-20", "CWE-125", "CWE-476", "CWE-862", "NVD-CWE-noinfo"]

def cpe(vendor, product, version="*", part="a"):
    return f"cpe:2.3:{part}:{vendor}:{product}:{version}:*:*:*:*:*:*:*"

def match(criteria, vulnerable=True, **bounds):
    m = {"vulnerable": vulnerable, "criteria": criteria, "matchCriteriaId": str(uuid.UUID(int=rng.getrandbits(128))).upper()}
    m.update(bounds)
    return m

def semver():
    return f"{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"

# CVSS 3.1: a random vector and the base score of the specification's formula, so score, severity and
# vector agree as they do in NVD's data.
AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}; AC = {"L": 0.77, "H": 0.44}; UI = {"N": 0.85, "R": 0.62}
CIA = {"H": 0.56, "L": 0.22, "N": 0.0}
def roundup(x):
    i = round(x * 100000)
    return i / 100000.0 if i % 10000 == 0 else (i // 10000 + 1) / 10.0
def cvss():
    av, ac, ui, s = rng.choice("NNNALP"), rng.choice("LLLH"), rng.choice("NNR"), rng.choice("UUUC")
    pr, c, i, a = rng.choice("NNLH"), rng.choice("HHLN"), rng.choice("HHLN"), rng.choice("HHLN")
    pr_w = {"N": 0.85, "L": 0.68 if s == "C" else 0.62, "H": 0.5 if s == "C" else 0.27}[pr]
    iss = 1 - (1 - CIA[c]) * (1 - CIA[i]) * (1 - CIA[a])
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if s == "C" else 6.42 * iss
    expl = 8.22 * AV[av] * AC[ac] * pr_w * UI[ui]
    score = 0.0 if impact <= 0 else roundup(min((1.08 if s == "C" else 1) * (impact + expl), 10))
    sev = "NONE" if score == 0 else "LOW" if score < 4 else "MEDIUM" if score < 7 else "HIGH" if score < 9 else "CRITICAL"
    names = {"N": "NETWORK", "A": "ADJACENT_NETWORK", "L": "LOCAL", "P": "PHYSICAL"}
    lvl = {"H": "HIGH", "L": "LOW", "N": "NONE"}
    return {"source": "nvd@nist.gov", "type": "Primary", "cvssData": {
        "version": "3.1", "vectorString": f"CVSS:3.1/AV:{av}/AC:{ac}/PR:{pr}/UI:{ui}/S:{s}/C:{c}/I:{i}/A:{a}",
        "baseScore": score, "baseSeverity": sev, "attackVector": names[av], "attackComplexity": lvl[ac],
        "privilegesRequired": lvl[pr], "userInteraction": "NONE" if ui == "N" else "REQUIRED",
        "scope": "CHANGED" if s == "C" else "UNCHANGED", "confidentialityImpact": lvl[c],
        "integrityImpact": lvl[i], "availabilityImpact": lvl[a]},
        "exploitabilityScore": round(expl, 1), "impactScore": round(max(impact, 0), 1)}

# Rules for a toolkit product. `hit` decides whether the pinned version is inside; the ways NVD writes
# both kinds are mixed: a range fixed before the pin or at it, an exact older version; a range fixed
# after the pin, one ending at it inclusively, the exact pinned version.
def toolkit_rules(vendor, product, pinned, older, hit):
    k = rng.randrange(3)
    lo = rng.randrange(len(older))
    if not hit:
        if k == 0:
            hi = rng.randrange(lo, len(older))
            b = {"versionEndExcluding": older[hi]}
            if rng.random() < 0.5 and hi > lo:
                b["versionStartIncluding"] = older[lo]
            return [match(cpe(vendor, product), **b)]
        if k == 1:
            return [match(cpe(vendor, product), versionEndExcluding=pinned)]
        return [match(cpe(vendor, product, v)) for v in rng.sample(older, rng.randint(1, len(older)))]
    if k == 0:
        return [match(cpe(vendor, product), versionStartIncluding=older[lo], versionEndExcluding=pinned + ".1")]
    if k == 1:
        return [match(cpe(vendor, product), versionEndIncluding=pinned)]
    return [match(cpe(vendor, product, older[lo])), match(cpe(vendor, product, pinned))]

def configurations(rules, platform):
    node = {"operator": "OR", "negate": False, "cpeMatch": rules}
    if not platform:
        return [{"nodes": [node]}]
    on = {"operator": "OR", "negate": False, "cpeMatch": [match(p, vulnerable=False) for p in rng.sample(PLATFORMS, 2)]}
    return [{"operator": "AND", "nodes": [node, on]}]

expected = {True: 0, False: 0}  # matching CVEs: runtime packages, statically linked ones
vulns = []
for n in range(N):
    year = 2024
    cve_id = f"CVE-{year}-{n + 1000}"
    published = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:15:{rng.randint(10, 59)}.{rng.randint(100, 999)}"
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60)))
    status, configs, metrics = "Analyzed", None, {"cvssMetricV31": [cvss()]}
    roll = rng.random()
    if roll < 0.01:
        status, text, metrics = "Rejected", "Rejected reason: This candidate is unused by its CNA.", {}
    elif roll < 0.11:
        status = "Awaiting Analysis"
    elif roll < 0.115:
        vendor, product, pinned, older, runtime = rng.choice(TOOLKIT)
        hit = rng.random() < 0.125
        expected[runtime] += hit
        configs = configurations(toolkit_rules(vendor, product, pinned, older, hit), False)
    else:
        vendor, product = rng.choice(PRODUCTS)
        k = rng.randrange(4)
        if k == 0:
            rules = [match(cpe(vendor, product), versionEndExcluding=semver())]
        elif k == 1:
            rules = [match(cpe(vendor, product), versionStartIncluding=semver(), versionEndIncluding=semver())]
        else:
            rules = [match(cpe(vendor, product, semver(), rng.choice("aaah"))) for _ in range(rng.randint(1, 6))]
        configs = configurations(rules, rng.random() < 0.05)
    cve = {"id": cve_id, "sourceIdentifier": rng.choice(["cve@mitre.org", "security@" + rng.choice(PRODUCTS)[0] + ".com"]),
           "published": published, "lastModified": published, "vulnStatus": status, "cveTags": [],
           "descriptions": [{"lang": "en", "value": text}], "metrics": metrics}
    if status == "Analyzed":
        cve["weaknesses"] = [{"source": "nvd@nist.gov", "type": "Primary", "description": [{"lang": "en", "value": rng.choice(CWES)}]}]
        cve["configurations"] = configs
    cve["references"] = [{"url": f"https://{rng.choice(PRODUCTS)[0]}.example/advisories/{cve_id}/{r}", "source": "cve@mitre.org",
                          "tags": rng.sample(["Third Party Advisory", "Vendor Advisory", "Patch", "Exploit"], 1)}
                         for r in range(rng.randint(1, 5))]
    vulns.append({"cve": cve})

feed = {"resultsPerPage": N, "startIndex": 0, "totalResults": N, "format": "NVD_CVE", "version": "2.0",
        "timestamp": "2026-01-01T00:00:00.000", "vulnerabilities": vulns}
with open(sys.argv[1], "w") as f:
    json.dump(feed, f, separators=(",", ":"))
print(expected[True], expected[False], len(PRODUCTS))
PY
read -r EXPECT EXPECT_STATIC NPRODUCTS < "$W/expected"
gzip -6 -k "$W/nvd.json"
echo "feed: 50000 CVEs, $NPRODUCTS other products; $(stat -c %s "$W/nvd.json") bytes plain, $(stat -c %s "$W/nvd.json.gz") gzip'd"
echo "CVEs whose ranges hold a pinned toolkit version: $EXPECT in its runtime packages," \
  "$EXPECT_STATIC in zlib and musl (linked statically into the programs)"

# The commands, by label. A label's output goes to $W/out.LABEL.json (compose) and its time and peak RSS
# to $W/t.LABEL ("SECONDS KIB").
declare -A CMD
CMD[compose]="$BIN vulns recipes/toolkit.toml --feed $W/nvd.json --format json -o $W/out.compose.json"
CMD[compose_gz]="$BIN vulns recipes/toolkit.toml --feed $W/nvd.json.gz --format json -o $W/out.compose_gz.json"
CMD[python]="python3 -c 'import json, sys; json.load(open(sys.argv[1]))' $W/nvd.json"
CMD[python_gz]="python3 -c 'import gzip, json, sys; json.load(gzip.open(sys.argv[1]))' $W/nvd.json.gz"
LABELS=(compose compose_gz python python_gz)
if [ -f out/toolkit.cdx.json ]; then
  CMD[image]="$BIN vulns out/toolkit.cdx.json --feed $W/nvd.json --format json -o $W/out.image.json"
  CMD[image_gz]="$BIN vulns out/toolkit.cdx.json --feed $W/nvd.json.gz --format json -o $W/out.image_gz.json"
  LABELS+=(image image_gz)
else
  echo "(no out/toolkit.cdx.json: the image target is not measured; \`compose build recipes/toolkit.toml\` makes it)"
fi

# compose exits 0 with findings (no --deny); anything else is a failure of the benchmark.
measure() {
  /usr/bin/time -f '%e %M' -o "$W/t.$1" sh -c "${CMD[$1]}" >/dev/null 2>"$W/err.$1" \
    || { cat "$W/err.$1" >&2; echo "bench: \`${CMD[$1]}\` failed" >&2; exit 1; }
}
printf '%-4s' run; for l in "${LABELS[@]}"; do printf ' %13s %8s' "${l}_s" MiB; done; echo
for i in $(seq "$RUNS"); do
  printf '%-4s' "$i"
  for l in "${LABELS[@]}"; do
    measure "$l"
    read -r s kib < "$W/t.$l"
    printf ' %13.2f %8.0f' "$s" "$(echo "$kib / 1024" | bc -l)"
    echo "$s $kib" >> "$W/runs.$l"
  done
  echo
done

# Medians (the middle run of RUNS, or the mean of the two middle ones), then the ratios.
median() { sort -g | awk '{v[NR] = $1} END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A T M
for l in "${LABELS[@]}"; do
  T[$l]=$(cut -d' ' -f1 "$W/runs.$l" | median)
  M[$l]=$(cut -d' ' -f2 "$W/runs.$l" | median)
done
echo
shown() { local c=${1//$BIN/compose}; echo "${c//$W/\$W}"; }  # the command, short
printf '%-12s %10s %10s   %s\n' command wall_s peak_MiB "(median of $RUNS)"
for l in "${LABELS[@]}"; do
  printf '%-12s %10.2f %10.0f   %s\n' "$l" "${T[$l]}" "$(echo "${M[$l]} / 1024" | bc -l)" "$(shown "${CMD[$l]}")"
done
echo
ratio() { printf '%-34s time %6.2f   memory %6.2f\n' "$1" "$(echo "${T[$2]} / ${T[$3]}" | bc -l)" "$(echo "${M[$2]} / ${M[$3]}" | bc -l)"; }
ratio "compose/python, plain feed:" compose python
ratio "compose/python, gzip'd feed:" compose_gz python_gz
if [ -n "${CMD[image]:-}" ]; then
  ratio "compose image/python, plain feed:" image python
  ratio "compose image/python, gzip'd feed:" image_gz python_gz
fi
echo
# What compose said about the feed, and what it found: the same for every run and both encodings.
grep -h 'feed sha256' "$W/err.compose" || true
for l in "${LABELS[@]}"; do
  case $l in python*) continue ;; esac
  python3 - "$l" "$W/out.$l.json" "$EXPECT" "$EXPECT_STATIC" <<'PY'
import collections, json, sys
label, path, runtime, static = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
findings = json.load(open(path))["findings"]
per = collections.Counter(f["package"] for f in findings)
print(f"{label}: {len(findings)} findings ({', '.join(f'{p} {n}' for p, n in sorted(per.items()))}); "
      f"the feed was made with {runtime} for the toolkit's runtime packages and {static} for musl and zlib, "
      f"linked statically into them")
PY
done
