#!/bin/sh
# Install dnsfilter on Debian or Raspberry Pi OS: a venv in /opt/dnsfilter/venv, the config in
# /etc/dnsfilter/config.toml (kept if it exists), a hardened systemd unit. Safe to run again:
# it upgrades the venv and leaves the config alone.
#
#   sudo sh deploy/debian/install.sh
#
# Environment: ROOT=DIR installs into DIR instead of / (and never calls systemctl);
# PYTHON (default python3); PIP_OPTS extra options for pip; PACKAGE what pip installs (default:
# this checkout; e.g. PACKAGE=dnsfilter PIP_OPTS="--no-index --find-links WHEELS" offline).
# It never changes the network configuration: if something else holds port 53 it says what
# and how to proceed.
set -eu

ROOT="${ROOT:-}"
PYTHON="${PYTHON:-python3}"
PIP_OPTS="${PIP_OPTS:-}"
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
PACKAGE="${PACKAGE:-$SRC}"
OPT="$ROOT/opt/dnsfilter"
ETC="$ROOT/etc/dnsfilter"
UNIT="$ROOT/etc/systemd/system/dnsfilter.service"
WEB_PORT=8080

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || die "run as root (sudo sh $0), or set ROOT=DIR to install into a folder"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	|| die "needs Python 3.11 or newer ($PYTHON); on Debian: apt-get install python3 python3-venv"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || die "needs the venv module: apt-get install python3-venv"

# 1. the venv (created once, upgraded in place on every run)
mkdir -p "$OPT"
[ -x "$OPT/venv/bin/python" ] || "$PYTHON" -m venv "$OPT/venv"
# shellcheck disable=SC2086 # PIP_OPTS is a list of options
"$OPT/venv/bin/python" -m pip install -q --disable-pip-version-check $PIP_OPTS "$PACKAGE"
say "installed: $OPT/venv"

# 2. the config: first install only; state lives in /var/lib/dnsfilter (the unit's StateDirectory)
lan_ip() {
	# the source address of the default route: the address LAN devices reach this machine on
	ip -4 route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n 1
}
IP="${LAN_IP:-$(lan_ip)}"
IP="${IP:-127.0.0.1}"
mkdir -p "$ETC"
if [ -e "$ETC/config.toml" ]; then
	say "kept: $ETC/config.toml"
else
	sed -e 's|^data_dir = .*|data_dir = "/var/lib/dnsfilter"|' "$SRC/config.example.toml" > "$ETC/config.toml.new"
	printf '\n# The web UI, on the LAN address found at install time.\n[web]\nlisten = "%s:%s"\n' \
		"$IP" "$WEB_PORT" >> "$ETC/config.toml.new"
	chmod 0644 "$ETC/config.toml.new"
	mv "$ETC/config.toml.new" "$ETC/config.toml"
	say "written: $ETC/config.toml"
fi
"$OPT/venv/bin/dnsfilter" config check -c "$ETC/config.toml" >/dev/null \
	|| die "$ETC/config.toml is not valid (see above); fix it and run again"

# 3. the unit
mkdir -p "$(dirname "$UNIT")"
install -m 0644 "$SRC/deploy/debian/dnsfilter.service" "$UNIT"
say "installed: $UNIT"

# 4. who holds port 53? Only explained, never changed.
port53() {
	command -v ss >/dev/null 2>&1 || return 0
	ss -H -lntup 'sport = :53' 2>/dev/null | sed -n 's/.*users:(("\([^"]*\)".*/\1/p' | sort -u
}
holders="${PORT53_HOLDERS-$(port53)}"
for name in $holders; do
	case "$name" in
	systemd-resolve*)
		say "port 53: systemd-resolved's stub listener holds 127.0.0.53:53. dnsfilter can coexist:"
		say "  listen on the LAN address only, e.g. [dns] listen = [\"$IP:53\"] in $ETC/config.toml." ;;
	dnsmasq)
		say "port 53: dnsmasq is running. Either let it forward to dnsfilter (dnsmasq: server=127.0.0.1#5353,"
		say "  add-mac, strip-mac; dnsfilter: [network] trusted_forwarders = [\"127.0.0.1/32\"]) or stop"
		say "  dnsmasq's DNS (port=0) before giving dnsfilter port 53. Nothing was changed." ;;
	dnsfilter|python3*) ;;
	*)
		say "port 53: held by $name; stop it before dnsfilter listens on port 53. Nothing was changed." ;;
	esac
done

# 5. start (not when installing into a folder)
if [ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload
	systemctl enable dnsfilter.service >/dev/null
	systemctl restart dnsfilter.service
	say "started: systemctl status dnsfilter"
else
	say "not started (ROOT is set or there is no systemctl)"
fi
say "dnsfilter answers on the addresses in $ETC/config.toml ([dns] listen)."
say "Web UI: http://$IP:$WEB_PORT/"
