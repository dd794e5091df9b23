"""A small rtnetlink reader (AF_NETLINK, stdlib `socket` and `struct` only) for the two
things the daemon reads from the kernel: the neighbour table and the interface addresses.

Why not pyroute2 here: importing it and opening an AsyncIPRoute cost about 9 MB of RSS, a
fifth of a 128 MB router's budget for dnsfilter, to parse three message types. pyroute2
stays a dependency (deploy tools and tests use it). Message layouts are the kernel's
(linux/netlink.h, linux/rtnetlink.h, linux/neighbour.h, linux/if_addr.h).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

NETLINK_ROUTE = 0
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_DUMP = 0x1, 0x2, 0x300
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
RTMGRP_LINK, RTMGRP_NEIGH, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x1, 0x4, 0x10, 0x100
EVENTS = {RTM_NEWLINK: "RTM_NEWLINK", RTM_DELLINK: "RTM_DELLINK", RTM_NEWADDR: "RTM_NEWADDR",
          RTM_DELADDR: "RTM_DELADDR", RTM_NEWNEIGH: "RTM_NEWNEIGH", RTM_DELNEIGH: "RTM_DELNEIGH"}
# attribute numbers
NDA_DST, NDA_LLADDR = 1, 2
IFLA_IFNAME = 3
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_RTATTR = struct.Struct("=HH")  # len, type
_NDMSG = struct.Struct("=BxxxiHBB")  # family, (pad), ifindex, state, flags, type
_IFINFOMSG = struct.Struct("=BxHiII")  # family, (pad), type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTGENMSG = struct.Struct("=Bxxx")
RECV_SIZE = 1 << 16


@dataclass(slots=True)
class Message:
    """One rtnetlink message: its fixed header fields and its attributes (number → bytes)."""

    event: str
    family: int
    index: int = 0
    state: int = 0  # neighbours
    flags: int = 0  # link flags (IFF_*), address flags (IFA_F_*), neighbour flags
    attrs: dict[int, bytes] = field(default_factory=dict)
    prefixlen: int = 0  # addresses: the network's prefix length

    def ip(self, attr: int) -> str | None:
        raw = self.attrs.get(attr)
        if raw is None or len(raw) not in (4, 16):
            return None
        return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)

    def mac(self, attr: int) -> str | None:
        raw = self.attrs.get(attr)
        return None if not raw else ":".join(f"{b:02x}" for b in raw)

    def text(self, attr: int) -> str | None:
        raw = self.attrs.get(attr)
        return None if raw is None else raw.split(b"\0", 1)[0].decode(errors="replace")

    def u32(self, attr: int) -> int | None:
        raw = self.attrs.get(attr)
        return None if raw is None or len(raw) < 4 else int(struct.unpack_from("=I", raw)[0])


def _attrs(data: bytes, off: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while off + 4 <= end:
        alen, atype = _RTATTR.unpack_from(data, off)
        if alen < 4 or off + alen > end:
            break
        out[atype & 0x3FFF] = data[off + 4:off + alen]  # without the NESTED/BYTEORDER bits
        off += (alen + 3) & ~3
    return out


def parse(mtype: int, data: bytes, off: int, end: int) -> Message | None:
    """The rtnetlink message of a type this reader knows, else None."""
    event = EVENTS.get(mtype)
    if event is None:
        return None
    if mtype in (RTM_NEWNEIGH, RTM_DELNEIGH) and end - off >= _NDMSG.size:
        fam, index, state, flags, _t = _NDMSG.unpack_from(data, off)
        return Message(event, fam, index, state, flags, _attrs(data, off + _NDMSG.size, end))
    if mtype in (RTM_NEWLINK, RTM_DELLINK) and end - off >= _IFINFOMSG.size:
        fam, _t, index, flags, _c = _IFINFOMSG.unpack_from(data, off)
        return Message(event, fam, index, 0, flags, _attrs(data, off + _IFINFOMSG.size, end))
    if mtype in (RTM_NEWADDR, RTM_DELADDR) and end - off >= _IFADDRMSG.size:
        fam, plen, flags, _scope, index = _IFADDRMSG.unpack_from(data, off)
        return Message(event, fam, index, 0, flags, _attrs(data, off + _IFADDRMSG.size, end), plen)
    return None


def messages(data: bytes) -> Iterator[tuple[int, int, int, int, int]]:
    """(type, flags, seq, payload start, payload end) of each message in one datagram."""
    off = 0
    while off + _NLMSGHDR.size <= len(data):
        mlen, mtype, mflags, seq, _pid = _NLMSGHDR.unpack_from(data, off)
        if mlen < _NLMSGHDR.size or off + mlen > len(data):
            break
        yield mtype, mflags, seq, off + _NLMSGHDR.size, off + mlen
        off += (mlen + 3) & ~3


class RtNetlink:
    """One NETLINK_ROUTE socket: `dump()` for a table, or `bind(groups)` and `events()`.
    Use one socket per role, as the kernel interleaves events with dump replies."""

    def __init__(self, rcvbuf: int = 1 << 20) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.setblocking(False)
        try:  # event bursts (an interface going up) overflow the default buffer: ENOBUFS
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        except OSError:
            pass
        self._seq = 0

    def bind(self, groups: int) -> None:
        self.sock.bind((0, groups))

    def close(self) -> None:
        self.sock.close()

    async def _recv(self) -> bytes:
        return await asyncio.get_running_loop().sock_recv(self.sock, RECV_SIZE)

    async def dump(self, mtype: int, family: int = socket.AF_UNSPEC) -> list[Message]:
        """Every entry of a table (RTM_GETNEIGH, RTM_GETLINK, RTM_GETADDR). Raises OSError
        with the kernel's errno on an error reply."""
        self._seq += 1
        seq = self._seq
        body = _RTGENMSG.pack(family)
        if mtype == RTM_GETLINK:  # ifinfomsg is the one request the kernel checks for its full size
            body = _IFINFOMSG.pack(family, 0, 0, 0, 0)
        self.sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), mtype, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
        out: list[Message] = []
        while True:
            data = await self._recv()
            for t, _f, s, off, end in messages(data):
                if s != seq:
                    continue
                if t == NLMSG_DONE:
                    return out
                if t == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, off)[0]
                    if code:
                        raise OSError(code, f"netlink dump: {errno.errorcode.get(code, code)}")
                    return out
                msg = parse(t, data, off, end)
                if msg is not None:
                    out.append(msg)

    async def events(self) -> AsyncIterator[Message]:
        """The messages of the bound groups, as they come. OSError (ENOBUFS: events were lost)
        ends the iteration; the caller re-reads the table."""
        while True:
            data = await self._recv()
            for t, _f, _s, off, end in messages(data):
                if t == NLMSG_OVERRUN:
                    raise OSError(errno.ENOBUFS, "netlink overrun")
                msg = parse(t, data, off, end)
                if msg is not None:
                    yield msg
