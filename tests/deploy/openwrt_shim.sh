# Stand-ins for OpenWrt's procd.sh helpers and the `uci` command, for running
# deploy/openwrt/files/* under busybox ash in the tests. Every call is appended to $CALLS as
# one line: the name, then each argument in [brackets] so that argument boundaries show.
# The fake uci keeps its state in $UCI_STATE, one `key=value` line per option (lists: one
# `key+=value` line per element).

record() {
	local line="$1"
	shift
	for a in "$@"; do line="$line [$a]"; done
	printf '%s\n' "$line" >> "$CALLS"
}

procd_open_instance() { record procd_open_instance "$@"; }
procd_close_instance() { record procd_close_instance "$@"; }
procd_set_param() { record procd_set_param "$@"; }
procd_append_param() { record procd_append_param "$@"; }
procd_add_reload_trigger() { record procd_add_reload_trigger "$@"; }
procd_open_trigger() { record procd_open_trigger "$@"; }
procd_close_trigger() { record procd_close_trigger "$@"; }
procd_open_data() { record procd_open_data "$@"; }
procd_close_data() { record procd_close_data "$@"; }

uci() {
	record uci "$@"
	[ "$1" = -q ] && shift
	local cmd="$1" arg="$2" key value
	key="${arg%%=*}"
	value="${arg#*=}"
	touch "$UCI_STATE"
	case "$cmd" in
	get)
		awk -v k="$key=" 'index($0, k) == 1 { print substr($0, length(k) + 1); found = 1; exit }
			END { exit !found }' "$UCI_STATE" ;;
	show)
		# the first dnsmasq instance is an anonymous section, as on a stock router
		[ "$key" = 'dhcp.@dnsmasq[0]' ] && echo 'dhcp.cfg01411c=dnsmasq' ;;
	set)
		grep -F -v -- "$key=" "$UCI_STATE" > "$UCI_STATE.new"; echo "$key=$value" >> "$UCI_STATE.new"
		mv "$UCI_STATE.new" "$UCI_STATE" ;;
	add_list)
		echo "$key+=$value" >> "$UCI_STATE" ;;
	del_list)
		grep -F -x -v -- "$key+=$value" "$UCI_STATE" > "$UCI_STATE.new"; mv "$UCI_STATE.new" "$UCI_STATE" ;;
	delete)
		grep -F -v -- "$key=" "$UCI_STATE" > "$UCI_STATE.new"; mv "$UCI_STATE.new" "$UCI_STATE" ;;
	commit) ;;
	*) return 1 ;;
	esac
}

# procd's answer for `status`: $PROCD_STATUS (default running); exit 0 only when running
_procd_status() {
	record _procd_status "$@"
	echo "${PROCD_STATUS:-running}"
	[ "${PROCD_STATUS:-running}" = running ]
}
