#!/usr/bin/env bash
# Line coverage per crate, with cargo-tarpaulin's LLVM engine (works on the
# stable toolchain without llvm-tools: tarpaulin reads the profiles itself).
# Processes spawned by tests (the CLI tests run `tetsuo`) are not counted.
#
#   scripts/coverage.sh            # summary table; HTML + JSON in coverage/
#
# Installs cargo-tarpaulin from crates.io on first use (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p coverage
if ! cargo tarpaulin --version >/dev/null 2>&1; then
    cargo install cargo-tarpaulin --locked
fi

cargo tarpaulin --workspace --engine llvm --skip-clean --timeout 300 \
    --out Json --out Html --output-dir coverage \
    --target-dir target/coverage >coverage/tarpaulin.log 2>&1 \
    || { mkdir -p coverage; tail -40 coverage/tarpaulin.log; exit 1; }

python3 - coverage/tarpaulin-report.json <<'PY'
import json, sys, collections
report = json.load(open(sys.argv[1]))
per_crate = collections.defaultdict(lambda: [0, 0])
for f in report["files"]:
    path = "/".join(f["path"])
    if "/crates/" not in path or "/tests/" in path:
        continue
    crate = path.split("/crates/")[1].split("/")[0]
    per_crate[crate][0] += f["covered"]
    per_crate[crate][1] += f["coverable"]
print(f"{'crate':<16} {'lines':>7} {'covered':>8} {'coverage':>9}")
total = [0, 0]
for crate, (covered, coverable) in sorted(per_crate.items()):
    total[0] += covered
    total[1] += coverable
    pct = 100.0 * covered / coverable if coverable else 100.0
    print(f"{crate:<16} {coverable:>7} {covered:>8} {pct:>8.1f}%")
pct = 100.0 * total[0] / total[1] if total[1] else 100.0
print(f"{'total':<16} {total[1]:>7} {total[0]:>8} {pct:>8.1f}%")
PY
echo "HTML report: coverage/tarpaulin-report.html"
