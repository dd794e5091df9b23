#!/usr/bin/env bash
# make bench: copy the shared harness into .bench/ (git-ignored), set it up, measure dnsfilter
# on the shipped config (config.example.toml), on the OpenWrt package's config and with a
# household of profiles, next to dnsmasq, Unbound and the dnslib baseline, and write
# BENCHMARKS.md.
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
PY="$ROOT/.venv/bin/python"
serve() {  # the candidate command for a setup of scripts/bench_config.py
  echo "$ROOT/scripts/bench-serve.sh {listen} {upstream} {domains} {list} $1 $2"
}
SUFFIX=""
[ "$W" != 1 ] && SUFFIX="-w$W"
cd "$DST"
mkdir -p results
# One batch: every workload (blocked, cached, mixed, unique, miss) on the shipped config next
# to the peers, then the OpenWrt package's config and a household (4 profiles, 50 devices,
# schedules, a budget) next to the peer records just made.
./run_compare.sh "$(serve "$W" defaults)" "dnsfilter$SUFFIX" | tee "$DST/results/last-table.md"
PEERS=stored ./run_compare.sh "$(serve "$W" openwrt)" "dnsfilter-openwrt$SUFFIX" \
  | tee "$DST/results/last-table-openwrt.md"
PEERS=stored WORKLOADS="${HOUSEHOLD_WORKLOADS:-blocked,unique}" \
  ./run_compare.sh "$(serve "$W" household)" "dnsfilter-household$SUFFIX" | tee "$DST/results/last-table-household.md"
# Loss and latency at 80 % of the peak just measured, and the idle footprint.
# shellcheck disable=SC2086
python3 "$ROOT/scripts/bench_extra.py" "$DST" "$(serve "$W" defaults)" "dnsfilter$SUFFIX" ${LISTS//,/ }
# All cores: SO_REUSEPORT workers, not pinned (they share the two CPUs with dnsperf and nsd).
if [ "${ALLCORE:-1}" = 1 ]; then
  N="$(nproc)"
  BENCH_SUT_CPU="0-$((N - 1))" PEERS=stored WORKLOADS=blocked,cached,mixed \
    ./run_compare.sh "$(serve "$N" defaults)" "dnsfilter-w$N-allcores" | tee "$DST/results/last-table-allcores.md"
fi
# The slow path on its own (CPU per blocked first sight and per cache miss) and what the
# tables cost per entry.
# Before and after: the commit before this work (SLOWPATH_BEFORE, empty to skip) from git archive.
BEFORE="${SLOWPATH_BEFORE-33e39c1}"
rm -f "$DST/results/slowpath.md"
if [ -n "$BEFORE" ] && git -C "$ROOT" cat-file -e "$BEFORE^{commit}" 2>/dev/null; then
  OLD="$(mktemp -d /var/tmp/dnsfilter-before-XXXXXX)"
  git -C "$ROOT" archive "$BEFORE" | tar -x -C "$OLD"
  "$PY" "$ROOT/scripts/bench_slowpath.py" "$DST" --repo "$OLD" --label "$BEFORE (before)" \
    --md "$DST/results/slowpath.md" --append
  rm -rf "$OLD"
fi
"$PY" "$ROOT/scripts/bench_slowpath.py" "$DST" --label "$(git -C "$ROOT" rev-parse --short HEAD) (now)" \
  --md "$DST/results/slowpath.md" --append
DNSFILTER_PURE=1 "$PY" "$ROOT/scripts/bench_slowpath.py" "$DST" \
  --label "$(git -C "$ROOT" rev-parse --short HEAD) (now, interpreted)" --md "$DST/results/slowpath.md" --append
# Instructions per query under callgrind (a count the machine's load does not move): the peers,
# the commit before this session's work, and now
if command -v valgrind >/dev/null 2>&1; then
  I="$DST/results/instructions.md"
  rm -f "$I"
  for s in dnsmasq unbound; do "$PY" "$ROOT/scripts/bench_instructions.py" "$DST" --system "$s" --md "$I" --append; done
  IBEFORE="${INSTR_BEFORE-0b43979}"
  if [ -n "$IBEFORE" ] && git -C "$ROOT" cat-file -e "$IBEFORE^{commit}" 2>/dev/null; then
    OLD="$(mktemp -d /var/tmp/dnsfilter-before-XXXXXX)"
    git -C "$ROOT" archive "$IBEFORE" | tar -x -C "$OLD"
    "$PY" "$ROOT/scripts/bench_instructions.py" "$DST" --repo "$OLD" --label "dnsfilter $IBEFORE (before)" --md "$I" --append
    rm -rf "$OLD"
  fi
  "$PY" "$ROOT/scripts/bench_instructions.py" "$DST" --label "dnsfilter $(git -C "$ROOT" rev-parse --short HEAD) (now)" \
    --md "$I" --append
  DNSFILTER_PURE=1 "$PY" "$ROOT/scripts/bench_instructions.py" "$DST" \
    --label "dnsfilter $(git -C "$ROOT" rev-parse --short HEAD) (now, interpreted)" --md "$I" --append
fi
"$PY" "$ROOT/scripts/bench_memory.py" "$DST" --md "$DST/results/memory.md"
# Feed compile/load/lookup/reload figures.
"$PY" "$ROOT/scripts/bench_feeds.py" "$DST"
# Profile figures: policy cost in process, and qps with profiles on/off.
"$PY" "$ROOT/scripts/bench_profiles.py" "$DST"
# The query log with 10M rows: the Dashboard's and the log page's reads (1.5 GB, deleted after).
"$PY" "$ROOT/scripts/bench_querylog.py" --db /var/tmp/dnsfilter-querylog-bench.db \
  --md "$DST/results/querylog.md"
"$PY" "$ROOT/scripts/bench_footprint.py" "$DST" --no-write  # 128 MB router: RSS/PSS, flash writes
# Authority lists and bundles: bundle verify+merge, a 1M-entry registry XML dump, the self-test of 1M names.
"$PY" "$ROOT/scripts/bench_authority.py" "$DST"
# Policy over zone transfers: export, AXFR/IXFR into dnsfilter and Unbound, a change until Unbound,
# BIND, PowerDNS Recursor and dnsfilter answer with it (Knot DNS primary, all on loopback).
"$PY" "$ROOT/scripts/bench_rpz.py" "$DST" --names "${RPZ_NAMES:-1000000}"
# Fuzz executions per second per target (tests/fuzz), 20 s each.
"$PY" "$ROOT/scripts/bench_fuzz.py" --seconds "${FUZZ_BENCH_SECONDS:-20}" --md "$DST/results/fuzz.md"
"$PY" "$ROOT/scripts/bench_report.py" "$DST" "$ROOT/BENCHMARKS.md" "$ROOT/README.md"
