"""LAN interfaces and their addresses, from netlink (shell/lan/netlink.py), followed as they change.

`listen = ["lan"]` means every address (IPv4 and IPv6, link-local with its scope) of the
interfaces that hold a private address (RFC 1918 or ULA), loopback excluded; an interface name
means that interface's addresses. The watcher re-reads the addresses after each netlink
address or link event and hands the new set of listeners to the server, which opens and closes
only the difference, so static listeners and unchanged ones keep their sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from dnsfilter.config.values import Listen
from dnsfilter.shell.lan.netlink import (
    IFA_ADDRESS,
    IFA_FLAGS,
    IFA_LOCAL,
    IFLA_IFNAME,
    RTM_GETADDR,
    RTM_GETLINK,
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_LINK,
    RtNetlink,
)

log = logging.getLogger("dnsfilter.lan")
IFF_LOOPBACK = 0x8
IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x08, 0x40  # not bindable (yet): wait for the next event
PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
SETTLE = 0.2  # events come in bursts (an interface up brings several addresses): read once after


@dataclass(frozen=True, slots=True)
class IfAddr:
    ifname: str
    address: str
    loopback: bool
    flags: int = 0
    prefixlen: int = 0

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return ipaddress.ip_address(self.address)

    @property
    def host(self) -> str:
        """The address as a listener binds it: link-local IPv6 carries its interface."""
        ip = self.ip
        return f"{ip}%{self.ifname}" if ip.version == 6 and ip.is_link_local else str(ip)


def lan_interfaces(addrs: Iterable[IfAddr]) -> set[str]:
    return {a.ifname for a in addrs if not a.loopback and any(a.ip in n for n in PRIVATE)}


def listeners_for(specs: Iterable[Listen], addrs: list[IfAddr]) -> list[Listen]:
    """The concrete listeners of the interface specs (`lan` or a name), in a stable order."""
    lan = lan_interfaces(addrs)
    out: dict[tuple[str, int], Listen] = {}
    for spec in specs:
        wanted = lan if spec.interface == "lan" else {spec.interface}
        for a in addrs:
            if a.ifname in wanted and not a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
                out.setdefault((a.host, spec.port), Listen(a.host, spec.port))
    return sorted(out.values(), key=lambda lst: (":" in lst.host, lst.host, lst.port))


async def read_addresses(nl: RtNetlink) -> list[IfAddr]:
    links = {}
    for msg in await nl.dump(RTM_GETLINK):
        links[msg.index] = (msg.text(IFLA_IFNAME), bool(msg.flags & IFF_LOOPBACK))
    out = []
    for msg in await nl.dump(RTM_GETADDR):
        name, loopback = links.get(msg.index, (None, False))
        addr = msg.ip(IFA_ADDRESS) if msg.family == socket.AF_INET6 else msg.ip(IFA_LOCAL)
        if name and addr:
            flags = msg.u32(IFA_FLAGS)  # the 8-bit header field cannot hold the newer flags
            out.append(IfAddr(name, addr, loopback, msg.flags if flags is None else flags, msg.prefixlen))
    return out


class LanWatcher:
    """Follows the addresses of the interface listeners and calls `apply` with the listeners
    they make, after start and after every change (and periodically, to retry failed binds)."""

    def __init__(self, specs: tuple[Listen, ...], apply: Callable[[list[Listen]], Awaitable[None]],
                 resync: float = 30.0) -> None:
        self.specs = specs
        self.apply = apply
        self.resync = resync
        self.current: list[Listen] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._events: RtNetlink | None = None
        self._dumper: RtNetlink | None = None

    async def start(self) -> list[Listen]:
        """Subscribe, read the addresses and bind them. Raises OSError without netlink."""
        try:
            # subscribe before the first read, so no change falls between the two
            self._events = RtNetlink()
            self._events.bind(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_LINK)
            self._dumper = RtNetlink()
            await self._refresh()
        except Exception as e:
            await self.stop()
            raise OSError(f"LAN addresses: netlink unavailable: {e}") from e
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self.current

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        for s in (self._events, self._dumper):
            if s is not None:
                with contextlib.suppress(Exception):
                    s.close()
        self._events = self._dumper = None

    async def _refresh(self) -> None:
        assert self._dumper is not None  # set by start()
        wanted = listeners_for(self.specs, await read_addresses(self._dumper))
        await self.apply(wanted)
        self.current = wanted

    async def _run(self) -> None:
        follow = asyncio.get_running_loop().create_task(self._follow())
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), self.resync)
                await asyncio.sleep(SETTLE)
                self._changed.clear()
                try:
                    await self._refresh()
                except Exception as e:  # keep the listeners we have; the next event or resync retries
                    log.warning("LAN addresses: %s", e)
        finally:
            follow.cancel()

    async def _follow(self) -> None:
        while True:
            try:
                assert self._events is not None  # set by start()
                async for _msg in self._events.events():
                    self._changed.set()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # e.g. ENOBUFS after a burst: events were lost, re-read all
                log.warning("LAN address events: %s", e)
                self._changed.set()
                await asyncio.sleep(1.0)
