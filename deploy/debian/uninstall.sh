#!/bin/sh
# Remove dnsfilter installed by install.sh: the unit and /opt/dnsfilter. The config
# (/etc/dnsfilter) and state (/var/lib/dnsfilter) stay unless --purge is given.
#
#   sudo sh deploy/debian/uninstall.sh [--purge]
#
# ROOT=DIR works on a folder instead of / (and never calls systemctl).
set -eu

ROOT="${ROOT:-}"
PURGE=0
[ "${1:-}" = --purge ] && PURGE=1
[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || { echo "uninstall.sh: run as root" >&2; exit 1; }

if [ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1; then
	systemctl disable --now dnsfilter.service dnsfilter-firewall.service 2>/dev/null || true
fi
rm -f "$ROOT/etc/systemd/system/dnsfilter.service"
[ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1 && systemctl daemon-reload
rm -rf "$ROOT/opt/dnsfilter"
if [ "$PURGE" = 1 ]; then
	# DynamicUser keeps state under /var/lib/private, with /var/lib/dnsfilter a symlink to it
	rm -rf "$ROOT/etc/dnsfilter" "$ROOT/var/lib/dnsfilter" "$ROOT/var/lib/private/dnsfilter"
	echo "removed dnsfilter, its config and its state"
else
	echo "removed dnsfilter; kept $ROOT/etc/dnsfilter and $ROOT/var/lib/dnsfilter (--purge removes them)"
fi
