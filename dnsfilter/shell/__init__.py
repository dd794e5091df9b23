"""The shells: all I/O of the daemon. The asyncio UDP/TCP server (`server`, `mmsg`), the
upstream transports (`upstream/`), LAN readers (`lan/`: netlink, neighbours, interfaces,
DHCP leases), the daemon's lifecycle, workers and control socket (`daemon`, `workers`),
household persistence, the feed-sync child, the query-log writer and the web UI's launcher.

Drives `dnsfilter.core` with bytes and `now`; may import config, storage and router.
"""
