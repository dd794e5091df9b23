#!/bin/sh
# Remove dnsfilter installed by install.sh: the units and /opt/dnsfilter. The config
# (/var/lib/dnsfilter/config.toml, linked from /etc/dnsfilter) and the state stay unless
# --purge is given.
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
	# DynamicUser keeps state under /var/lib/private, with /var/lib/dnsfilter a symlink to it
	rm -rf "$ROOT/etc/dnsfilter" "$ROOT/var/lib/dnsfilter" "$ROOT/var/lib/private/dnsfilter"
	echo "removed dnsfilter, its config and its state"
else
	echo "removed dnsfilter; kept $ROOT/var/lib/dnsfilter (the config and state) and the link in $ROOT/etc/dnsfilter (--purge removes them)"
fi
