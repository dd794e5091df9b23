#!/usr/bin/env bash
# The benchmark's candidate command: write a config for the harness's addresses and list,
# then run dnsfilter in the foreground.
#   bench-serve.sh LISTEN UPSTREAM DOMAINS_FILE LABEL [WORKERS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LISTEN="$1" UPSTREAM="$2" DOMAINS="$3" LABEL="$4" WORKERS="${5:-1}"
DIR="$ROOT/.bench/run/dnsfilter-$LABEL-w$WORKERS"
mkdir -p "$DIR"
cat > "$DIR/config.toml" <<CONF
# written by scripts/bench-serve.sh: the harness's addresses, its blocklist, a cache big
# enough for the workloads' unique questions (as unbound's default caches are).
[dns]
listen = ["$LISTEN"]
upstreams = ["$UPSTREAM"]
block_mode = "null"
cache_size = 250000
fastpath_size = 250000
workers = $WORKERS

[storage]
data_dir = "$DIR/var"

[[feeds]]
name = "bench-$LABEL"
url = "$DOMAINS"
format = "domains"
category = "ads"
CONF
# Compiling the list is part of the measured load time, as dnsmasq/unbound parse theirs.
rm -rf "$DIR/var"
exec "$ROOT/.venv/bin/dnsfilter" serve -c "$DIR/config.toml" --log-level warning
