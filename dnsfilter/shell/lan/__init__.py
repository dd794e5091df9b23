"""The LAN as the daemon sees it: the stdlib rtnetlink reader (`netlink`), the neighbour table
(`neighbours`), interface addresses for `listen = ["lan"]` (`interfaces`) and DHCP lease files
(`leases_watch`).

Must not import: the server or the daemon (they use these readers).
"""
