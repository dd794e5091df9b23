"""The listeners' sockets: UDP and TCP bound as the config's `listen` entries say (a
link-local IPv6 address with its interface, SO_REUSEPORT for workers)."""

from __future__ import annotations

import contextlib
import socket

from dnsfilter.config import Listen

RCVBUF = 4 << 20


def sockaddr(listen: Listen) -> tuple[str, int] | tuple[str, int, int, int]:
    """A link-local IPv6 listener (`fe80::1%br-lan`) binds with its interface as scope id."""
    host, _, scope = listen.host.partition("%")
    if scope:
        return (host, listen.port, 0, socket.if_nametoindex(scope))
    return (host, listen.port)


def udp_socket(listen: Listen, reuseport: bool = False) -> socket.socket:
    fam = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if reuseport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        with contextlib.suppress(OSError):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        s.bind(sockaddr(listen))
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


def tcp_socket(listen: Listen, reuseport: bool = False) -> socket.socket:
    fam = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if reuseport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(sockaddr(listen))
        s.listen(128)
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


