#!/usr/bin/env bash
# The benchmark's candidate command: write a config for the harness's addresses and list,
# then run dnsfilter in the foreground.
#   bench-serve.sh LISTEN UPSTREAM DOMAINS_FILE LABEL [WORKERS] [SETUP]
# SETUP (scripts/bench_config.py): defaults (config.example.toml as shipped, the default),
# openwrt (the OpenWrt package's config) or household (the defaults with 4 profiles and 50
# devices). Only addresses, the list, data_dir and workers are set: no benchmark-only sizes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LISTEN="$1" UPSTREAM="$2" DOMAINS="$3" LABEL="$4" WORKERS="${5:-1}" SETUP="${6:-defaults}"
DIR="$ROOT/.bench/run/dnsfilter-$SETUP-$LABEL-w$WORKERS"
mkdir -p "$DIR"
"$ROOT/.venv/bin/python" "$ROOT/scripts/bench_config.py" "$SETUP" "$LISTEN" "$UPSTREAM" "$DOMAINS" \
  "$DIR/var" "$WORKERS" > "$DIR/config.toml"
# Compiling the list is part of the measured load time, as dnsmasq/unbound parse theirs.
rm -rf "${DIR:?}/var"
# The OpenWrt package runs the query path interpreted (no compiler on the router): so does its setup here.
[ "$SETUP" = openwrt ] && export DNSFILTER_PURE=1
exec "$ROOT/.venv/bin/dnsfilter" serve -c "$DIR/config.toml" --log-level warning
