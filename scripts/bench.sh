#!/usr/bin/env bash
# make bench: copy the shared harness into .bench/ (git-ignored), set it up, measure dnsfilter
# next to dnsmasq, Unbound and the dnslib baseline in one run, and write BENCHMARKS.md.
#   REPS=3 DURATION=20 LISTS=100k,1m WORKERS=1 scripts/bench.sh
# Only loopback addresses are used (the harness refuses anything else).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${BENCH_SRC:-$ROOT/../shared/bench}"
DST="$ROOT/.bench"
if [ ! -d "$SRC" ]; then
  echo "bench: $SRC is missing (the shared harness); nothing to run" >&2
  exit 1
fi
mkdir -p "$DST"
# Refresh the harness files, keep its generated data/venv/results.
(cd "$SRC" && tar cf - --exclude=./data --exclude=./.venv --exclude=./run --exclude=./results .) | (cd "$DST" && tar xf -)
if [ "$(id -u)" = 0 ]; then "$DST/setup.sh"; else SKIP_APT=1 "$DST/setup.sh"; fi
export REPS="${REPS:-3}" DURATION="${DURATION:-20}" LISTS="${LISTS:-100k,1m}"
W="${WORKERS:-1}"
CMD="$ROOT/scripts/bench-serve.sh {listen} {upstream} {domains} {list} $W"
NAME="dnsfilter"
[ "$W" != 1 ] && NAME="dnsfilter-w$W"
cd "$DST"
mkdir -p results
./run_compare.sh "$CMD" "$NAME" | tee "$DST/results/last-table.md"
# Loss and latency at 80 % of the peak just measured, and the idle footprint.
python3 "$ROOT/scripts/bench_extra.py" "$DST" "$CMD" "$NAME" ${LISTS//,/ }
# All cores: SO_REUSEPORT workers, not pinned (they share the two CPUs with dnsperf and nsd).
if [ "${ALLCORE:-1}" = 1 ]; then
  N="$(nproc)"
  BENCH_SUT_CPU="0-$((N - 1))" PEERS=stored \
    ./run_compare.sh "$ROOT/scripts/bench-serve.sh {listen} {upstream} {domains} {list} $N" "dnsfilter-w$N-allcores" \
    | tee "$DST/results/last-table-allcores.md"
fi
# Feed compile/load/lookup/reload figures.
"$ROOT/.venv/bin/python" "$ROOT/scripts/bench_feeds.py" "$DST"
# Profile figures: policy cost in process, and qps with profiles on/off.
"$ROOT/.venv/bin/python" "$ROOT/scripts/bench_profiles.py" "$DST"
# The query log with 10M rows: the Dashboard's and the log page's reads (1.5 GB, deleted after).
"$ROOT/.venv/bin/python" "$ROOT/scripts/bench_querylog.py" --db /var/tmp/dnsfilter-querylog-bench.db \
  --md "$DST/results/querylog.md"
"$ROOT/.venv/bin/python" "$ROOT/scripts/bench_footprint.py" "$DST" --no-write  # 128 MB router: RSS/PSS, flash writes
# Authority lists and bundles: bundle verify+merge, a 1M-entry registry XML dump, the self-test of 1M names.
"$ROOT/.venv/bin/python" "$ROOT/scripts/bench_authority.py" "$DST"
# Fuzz executions per second per target (tests/fuzz), 20 s each.
"$ROOT/.venv/bin/python" "$ROOT/scripts/bench_fuzz.py" --seconds "${FUZZ_BENCH_SECONDS:-20}" --md "$DST/results/fuzz.md"
"$ROOT/.venv/bin/python" "$ROOT/scripts/bench_report.py" "$DST" "$ROOT/BENCHMARKS.md"
