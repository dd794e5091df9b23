#!/bin/sh
# Install dnsfilter on Debian or Raspberry Pi OS: a venv in /opt/dnsfilter/venv, the config in
# /var/lib/dnsfilter/config.toml (kept if it exists) with /etc/dnsfilter/config.toml a symlink
# to it, a hardened systemd unit. Safe to run again: it upgrades the venv and leaves the config
# alone.
#
#   sudo sh deploy/debian/install.sh [--firewall IFACE[,IFACE...]]
#
# --firewall: this machine routes the LAN (IFACE: its LAN interfaces): forced DNS too. It sets
# [firewall] interfaces in the config (when the config has no [firewall] table yet), and
# installs and enables dnsfilter-firewall.service (the nftables rules, loaded while dnsfilter
# runs) and dnsfilter-firewall-refresh.timer (the DoH resolver feed). Opt-in: a Pi that is
# only the LAN's DNS server does not route, and redirecting is not its business.
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
UNITS="$ROOT/etc/systemd/system"
UNIT="$UNITS/dnsfilter.service"
FW_UNITS="dnsfilter-firewall.service dnsfilter-firewall-refresh.service dnsfilter-firewall-refresh.timer"
WEB_PORT=8080

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

FIREWALL=""
while [ $# -gt 0 ]; do
	case "$1" in
	--firewall)
		[ $# -ge 2 ] || die "--firewall needs the LAN interface(s), e.g. --firewall eth1 or --firewall br0,wlan0"
		FIREWALL="$2"
		shift 2 ;;
	--firewall=*) FIREWALL="${1#--firewall=}"; shift ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done
case "$FIREWALL" in
*[!A-Za-z0-9_.:,@-]*) die "--firewall: interface names are letters, digits and -_.:@, comma-separated" ;;
esac

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

# 2. the config. It lives in the state directory, the one place the hardened service may write
# (web UI edits); /etc/dnsfilter/config.toml is a symlink to it. With DynamicUser, systemd keeps
# the state in /var/lib/private/dnsfilter and makes /var/lib/dnsfilter a symlink to it (it moves
# a plain directory there on first start), so the real folder is whichever exists.
lan_ip() {
	# the source address of the default route: the address LAN devices reach this machine on
	ip -4 route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n 1
}
IP="${LAN_IP:-$(lan_ip)}"
IP="${IP:-127.0.0.1}"
if [ -d "$ROOT/var/lib/private/dnsfilter" ]; then
	STATE="$ROOT/var/lib/private/dnsfilter"
else
	STATE="$ROOT/var/lib/dnsfilter"
fi
mkdir -p "$ETC" "$STATE"
chmod 0750 "$STATE"
CONF="$STATE/config.toml"
check() { "$OPT/venv/bin/dnsfilter" config check -c "$1" >/dev/null || die "$1 is not valid (see above); fix it and run again"; }
if [ -e "$CONF" ]; then
	check "$CONF"
	say "kept: $CONF"
elif [ -f "$ETC/config.toml" ] && [ ! -L "$ETC/config.toml" ]; then
	# an earlier install kept the config in /etc, where the service could not write it
	check "$ETC/config.toml"
	cp -p "$ETC/config.toml" "$CONF.new"
	mv "$CONF.new" "$CONF"
	rm -f "$ETC/config.toml"
	say "moved: $ETC/config.toml -> $CONF (the service may now save web UI edits)"
else
	# the example's [web] listens on loopback: the web UI goes on the LAN address found now
	sed -e 's|^data_dir = .*|data_dir = "/var/lib/dnsfilter"|' \
		-e "s|^listen = \"127.0.0.1:8080\"|listen = \"$IP:$WEB_PORT\"  # the LAN address found at install time|" \
		"$SRC/config.example.toml" > "$CONF.new"
	chmod 0640 "$CONF.new"
	check "$CONF.new"
	mv "$CONF.new" "$CONF"
	say "written: $CONF"
fi
if [ -n "$FIREWALL" ]; then
	if grep -q '^\[firewall\]' "$CONF"; then
		say "kept: the [firewall] table in $CONF (--firewall $FIREWALL not written over it)"
	else
		list="$(printf '%s' "$FIREWALL" | sed 's/[^,][^,]*/"&"/g; s/,/, /g')"
		cp -p "$CONF" "$CONF.new"
		printf '\n# Forced DNS (install.sh --firewall): the LAN interfaces whose DNS is redirected here.\n[firewall]\ninterfaces = [%s]\n' \
			"$list" >> "$CONF.new"
		check "$CONF.new"
		mv "$CONF.new" "$CONF"
		say "written: [firewall] interfaces = [$list] in $CONF"
	fi
fi
# owned like its folder: systemd hands the folder (recursively) to the service's transient user,
# and the service replaces the file and hard-links the old one to config.toml.bak, which
# fs.protected_hardlinks refuses on a file someone else owns
chown --reference="$STATE" "$CONF"
# the admin's path; absolute, so it points into the real root however ROOT is set. A plain file
# still there (both layouts present) is set aside, never overwritten.
if [ -f "$ETC/config.toml" ] && [ ! -L "$ETC/config.toml" ]; then
	mv "$ETC/config.toml" "$ETC/config.toml.old"
	say "set aside: $ETC/config.toml -> $ETC/config.toml.old ($CONF is the config in use)"
fi
ln -sfn /var/lib/dnsfilter/config.toml "$ETC/config.toml"
say "linked: $ETC/config.toml -> /var/lib/dnsfilter/config.toml"

# 3. the units; the firewall ones with --firewall, or when an earlier run installed them
mkdir -p "$UNITS"
install -m 0644 "$SRC/deploy/debian/dnsfilter.service" "$UNIT"
say "installed: $UNIT"
if [ -z "$FIREWALL" ] && [ -e "$UNITS/dnsfilter-firewall.service" ]; then
	FIREWALL=kept
fi
if [ -n "$FIREWALL" ]; then
	for u in $FW_UNITS; do
		install -m 0644 "$SRC/deploy/nftables/$u" "$UNITS/$u"
		say "installed: $UNITS/$u"
	done
	command -v nft >/dev/null 2>&1 || [ -n "$ROOT" ] \
		|| say "forced DNS needs nftables: apt-get install nftables"
	say "forced DNS: LAN port-53 traffic is redirected to the port of [dns] listen's first address;"
	say "  dnsfilter must listen on the LAN address (e.g. listen = [\"lan:53\"]) for that to answer."
fi

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
	if [ -n "$FIREWALL" ]; then
		systemctl enable dnsfilter-firewall.service dnsfilter-firewall-refresh.timer >/dev/null
	fi
	systemctl restart dnsfilter.service
	if [ -n "$FIREWALL" ]; then
		systemctl restart dnsfilter-firewall.service dnsfilter-firewall-refresh.timer
	fi
	say "started: systemctl status dnsfilter"
else
	say "not started (ROOT is set or there is no systemctl)"
fi
say "dnsfilter answers on the addresses in $ETC/config.toml ([dns] listen); edit that file or use the web UI."
say "Web UI: http://$IP:$WEB_PORT/"
