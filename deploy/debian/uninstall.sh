#!/bin/sh
# Remove dnsfilter installed by install.sh: the units and /opt/dnsfilter. The config
# (/var/lib/dnsfilter/config.toml, linked from /etc/dnsfilter), the state and the system user
# dnsfilter that owns them stay unless --purge is given.
#
#   sudo sh deploy/debian/uninstall.sh [--purge]
#
# ROOT=DIR works on a folder instead of / (and never calls systemctl).
set -eu

ROOT="${ROOT:-}"
PURGE=0
[ "${1:-}" = --purge ] && PURGE=1
[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || { echo "uninstall.sh: run as root" >&2; exit 1; }
UNITS="dnsfilter.service dnsfilter-firewall.service dnsfilter-firewall-refresh.service dnsfilter-firewall-refresh.timer"

if [ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1; then
	# stopping dnsfilter-firewall.service removes the nftables table
	systemctl disable --now dnsfilter-firewall-refresh.timer dnsfilter-firewall.service dnsfilter.service \
		2>/dev/null || true
fi
for u in $UNITS; do
	rm -f "$ROOT/etc/systemd/system/$u"
done
[ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1 && systemctl daemon-reload
rm -rf "$ROOT/opt/dnsfilter"
if [ "$PURGE" = 1 ]; then
	# an install from the DynamicUser days kept the state under /var/lib/private
	rm -rf "$ROOT/etc/dnsfilter" "$ROOT/var/lib/dnsfilter" "$ROOT/var/lib/private/dnsfilter"
	rm -f "$ROOT/etc/sysusers.d/dnsfilter.conf"
	if [ -z "$ROOT" ] && getent passwd dnsfilter >/dev/null 2>&1; then
		userdel dnsfilter 2>/dev/null || echo "uninstall.sh: could not remove the user dnsfilter" >&2
		# userdel leaves the user's group when another user has it as a supplementary group
		! getent group dnsfilter >/dev/null 2>&1 || groupdel dnsfilter 2>/dev/null || true
	fi
	echo "removed dnsfilter, its config, its state and its user"
else
	echo "removed dnsfilter; kept $ROOT/var/lib/dnsfilter (the config and state), the link in $ROOT/etc/dnsfilter and the user dnsfilter (--purge removes them)"
fi
