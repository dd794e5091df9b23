#!/bin/sh
# Install dnsfilter on Debian or Raspberry Pi OS: a venv in /opt/dnsfilter/venv, the system
# user `dnsfilter`, the config in /var/lib/dnsfilter/config.toml (kept if it exists) with
# /etc/dnsfilter/config.toml a symlink to it, a hardened systemd unit. Safe to run again: it
# upgrades the venv and leaves the config alone.
#
#   sudo sh deploy/debian/install.sh [--firewall IFACE[,IFACE...]]
#
# --firewall: this machine routes the LAN (IFACE: its LAN interfaces): forced DNS too. It sets
# [firewall] interfaces in the config (when the config has no [firewall] table yet), and on a
# first install makes dnsfilter listen on port 53 of those interfaces (where the redirect
# sends LAN DNS) and loopback; it installs and enables dnsfilter-firewall.service (the
# nftables rules, loaded while dnsfilter runs) and dnsfilter-firewall-refresh.timer (the DoH
# resolver feed). Opt-in: a Pi that is only the LAN's DNS server does not route, and
# redirecting is not its business.
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
SYSUSERS="$ROOT/etc/sysusers.d/dnsfilter.conf"
SERVICE_USER=dnsfilter
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
# The compiled query path comes along when the checkout was built with `make native` first.
say "query path: $("$OPT/venv/bin/python" -c 'from dnsfilter import native; print(native.describe())' 2>/dev/null || echo unknown)"

# 2. the service's user: a system user (systemd-sysusers, from the file installed here) that
# owns the state folder. Not DynamicUser: a root-run command (`dnsfilter feeds sync`) must be
# able to become the service's user, which a transient user under /var/lib/private prevents.
mkdir -p "$(dirname "$SYSUSERS")"
install -m 0644 "$SRC/deploy/debian/dnsfilter.sysusers" "$SYSUSERS"
if [ -z "$ROOT" ]; then
	if command -v systemd-sysusers >/dev/null 2>&1; then
		systemd-sysusers "$SYSUSERS" || die "systemd-sysusers could not create the user $SERVICE_USER"
	elif ! getent passwd "$SERVICE_USER" >/dev/null; then
		useradd --system --user-group --home-dir /var/lib/dnsfilter --no-create-home \
			--shell /usr/sbin/nologin "$SERVICE_USER" || die "could not create the user $SERVICE_USER"
	fi
	say "user: $SERVICE_USER"
fi

# 3. the config. It lives in the state directory, the one place the hardened service may write
# (web UI edits); /etc/dnsfilter/config.toml is a symlink to it.

# The address LAN devices reach this machine on (the web UI's, and the one the advice below
# names). With --firewall, the first LAN interface's; otherwise the default route's source
# address when it is private, else any private (RFC 1918) or ULA address. Never a public one:
# on a router the default route leaves through the WAN.
private_addr() {
	while read -r a; do
		case "$a" in
		10.*|192.168.*|172.1[6-9].*|172.2[0-9].*|172.3[01].*) echo "$a"; return 0 ;;
		f[cd][0-9a-f][0-9a-f]:*) echo "[$a]"; return 0 ;;
		esac
	done
	return 1
}
if_addrs() {  # if_addrs -4|-6 [IFACE]: global addresses, one a line
	ip -o "$1" addr show ${2:+dev "$2"} scope global 2>/dev/null | awk '{ sub("/.*", "", $4); print $4 }'
}
lan_ip() {
	command -v ip >/dev/null 2>&1 || return 0
	if [ -n "$FIREWALL" ]; then
		{ if_addrs -4 "${FIREWALL%%,*}"; if_addrs -6 "${FIREWALL%%,*}"; } | private_addr && return 0
	fi
	ip -4 route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | private_addr && return 0
	{ if_addrs -4; if_addrs -6; } | private_addr || true
}
IP="${LAN_IP:-$(lan_ip)}"
if [ -z "$IP" ]; then
	IP=127.0.0.1
	say "no LAN address found (RFC 1918 or ULA): the web UI listens on $IP; set [web] listen later"
fi
# An install from the DynamicUser days has the state in /var/lib/private/dnsfilter, with
# /var/lib/dnsfilter a symlink to it: it moves back (systemd would do the same at the next start).
if [ -L "$ROOT/var/lib/dnsfilter" ] && [ -d "$ROOT/var/lib/private/dnsfilter" ]; then
	if [ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1; then
		systemctl stop dnsfilter.service 2>/dev/null || true
	fi
	rm "$ROOT/var/lib/dnsfilter"
	mv "$ROOT/var/lib/private/dnsfilter" "$ROOT/var/lib/dnsfilter"
	say "moved: $ROOT/var/lib/private/dnsfilter -> $ROOT/var/lib/dnsfilter"
fi
STATE="$ROOT/var/lib/dnsfilter"
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
	if [ -n "$FIREWALL" ]; then
		# the redirect sends LAN port-53 traffic to port 53 of the interface it came in on:
		# listen there, and on loopback for the router itself
		listen="$(printf '%s' "$FIREWALL" | sed 's/[^,][^,]*/"&:53"/g; s/,/, /g')"
		sed -i -e "s|^listen = \[\"127.0.0.1:5353\", \"\[::1\]:5353\"\]|listen = [$listen, \"127.0.0.1:53\", \"[::1]:53\"]|" \
			"$CONF.new"
		grep -q "^listen = \[$listen" "$CONF.new" || die "config.example.toml's [dns] listen line changed: update install.sh"
	fi
	grep -q "^listen = \"$IP:$WEB_PORT\"" "$CONF.new" || die "config.example.toml's [web] listen line changed: update install.sh"
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
# The state folder and everything in it belong to the service's user: the service replaces the
# config and hard-links the old one to config.toml.bak (which fs.protected_hardlinks refuses on
# a file someone else owns), and a file an older root-run command left there (a feed's lock
# or status) would stop its reloads. Into a folder (ROOT), owned like the folder.
if [ -z "$ROOT" ]; then
	chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE"
else
	chown --reference="$STATE" "$CONF"
fi
# the admin's path; absolute, so it points into the real root however ROOT is set. A plain file
# still there (both layouts present) is set aside, never overwritten.
if [ -f "$ETC/config.toml" ] && [ ! -L "$ETC/config.toml" ]; then
	mv "$ETC/config.toml" "$ETC/config.toml.old"
	say "set aside: $ETC/config.toml -> $ETC/config.toml.old ($CONF is the config in use)"
fi
ln -sfn /var/lib/dnsfilter/config.toml "$ETC/config.toml"
say "linked: $ETC/config.toml -> /var/lib/dnsfilter/config.toml"

# 4. the units; the firewall ones with --firewall, or when an earlier run installed them. Their
# Documentation= points at the docs copied here.
mkdir -p "$UNITS" "$OPT/doc"
install -m 0644 "$SRC/docs/deploy.md" "$SRC/docs/forced-dns.md" "$OPT/doc/"
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
	say "forced DNS: LAN port-53 traffic is redirected to dnsfilter's port on the interface it came in on,"
	say "  so [dns] listen must include that interface (e.g. \"eth1:53\"); \`dnsfilter firewall apply\`"
	say "  refuses rules whose traffic nothing would answer."
fi

# 5. who holds port 53? Only explained, never changed. dnsfilter itself is told apart by its
# command line (a Python process could be another DNS server).
port53() {
	command -v ss >/dev/null 2>&1 || return 0
	ss -H -lntup 'sport = :53' 2>/dev/null | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 \2/p' | sort -u |
		while read -r name pid; do
			if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'dnsfilter.* serve '; then
				echo dnsfilter
			else
				echo "$name"
			fi
		done | sort -u
}
holders="${PORT53_HOLDERS-$(port53)}"
for name in $holders; do
	case "$name" in
	systemd-resolve*)
		say "port 53: systemd-resolved's stub listener holds 127.0.0.53:53. dnsfilter can coexist:"
		say "  listen on the LAN address only, e.g. [dns] listen = [\"$IP:53\"] in $CONF." ;;
	dnsmasq)
		say "port 53: dnsmasq is running. Either let it forward to dnsfilter (dnsmasq: server=127.0.0.1#5353,"
		say "  add-mac, strip-mac; dnsfilter: [network] trusted_forwarders = [\"127.0.0.1/32\"]) or stop"
		say "  dnsmasq's DNS (port=0) before giving dnsfilter port 53. Nothing was changed." ;;
	dnsfilter) ;;
	*)
		say "port 53: held by $name; stop it before dnsfilter listens on port 53. Nothing was changed." ;;
	esac
done

# 6. start (not when installing into a folder). One restart: dnsfilter-firewall.service is
# wanted by dnsfilter.service and PartOf it, so it follows; restarting it again here would kill
# the start already under way.
if [ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload
	systemctl enable dnsfilter.service >/dev/null
	if [ -n "$FIREWALL" ]; then
		systemctl enable dnsfilter-firewall.service dnsfilter-firewall-refresh.timer >/dev/null
	fi
	systemctl restart dnsfilter.service
	if [ -n "$FIREWALL" ]; then
		systemctl start dnsfilter-firewall-refresh.timer
	fi
	say "started: systemctl status dnsfilter"
else
	say "not started (ROOT is set or there is no systemctl)"
fi
say "dnsfilter answers on the addresses in $CONF ([dns] listen); edit it (sudoedit $CONF:"
say "  sudoedit refuses the link in $ETC), then systemctl reload dnsfilter; or use the web UI."
say "Web UI: http://$IP:$WEB_PORT/"

# 7. the web UI's one-time setup code, as routers print theirs: whoever installed may finish
# setup in the browser, nobody else on the LAN. The running service made it at start (or this
# makes it, for the service's user); it is the same code either way. Into a folder (ROOT) none
# is made: a folder may become an image for many machines, and each must have its own code.
if [ -z "$ROOT" ]; then
	"$OPT/venv/bin/dnsfilter" setup-code -c "$CONF" \
		|| say "setup code: see journalctl -u dnsfilter -g 'setup code'"
else
	say "setup code: made when dnsfilter first starts on the machine (journalctl -u dnsfilter -g 'setup code')"
fi
