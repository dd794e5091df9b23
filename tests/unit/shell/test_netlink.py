"""The stdlib rtnetlink reader (dnsfilter/shell/lan/netlink.py): message parsing from the kernel's
layouts, and real dumps checked against pyroute2's reading of the same tables."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from dnsfilter.shell.lan import netlink as nl
from dnsfilter.shell.lan.interfaces import read_addresses


def _attr(atype: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), atype) + data
    return raw + b"\0" * (-len(raw) % 4)


def _msg(mtype: int, body: bytes, seq: int = 1) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), mtype, 0, seq, 0) + body


def test_neighbour_message_fields_and_attributes() -> None:
    body = (struct.pack("=BxxxiHBB", socket.AF_INET6, 3, 0x02, 0, 1)
            + _attr(nl.NDA_DST, socket.inet_pton(socket.AF_INET6, "fd00::2"))
            + _attr(nl.NDA_LLADDR, bytes.fromhex("02aabbccddee")))
    data = _msg(nl.RTM_NEWNEIGH, body) + _msg(nl.NLMSG_DONE, b"\0\0\0\0")
    got = [(t, nl.parse(t, data, off, end)) for t, _f, _s, off, end in nl.messages(data)]
    assert [t for t, _ in got] == [nl.RTM_NEWNEIGH, nl.NLMSG_DONE]
    msg = got[0][1]
    assert msg is not None and got[1][1] is None
    assert (msg.event, msg.family, msg.index, msg.state) == ("RTM_NEWNEIGH", socket.AF_INET6, 3, 0x02)
    assert msg.ip(nl.NDA_DST) == "fd00::2"
    assert msg.mac(nl.NDA_LLADDR) == "02:aa:bb:cc:dd:ee"


def test_truncated_input_is_cut_off_not_misread() -> None:
    body = struct.pack("=BxxxiHBB", socket.AF_INET, 2, 0x02, 0, 1) + _attr(nl.NDA_DST, bytes([10, 0, 0, 2]))
    broken_attr = body + struct.pack("=HH", 40, nl.NDA_LLADDR) + b"\x02\xaa"  # claims 40 bytes, has 6
    data = _msg(nl.RTM_NEWNEIGH, broken_attr)
    (t, _f, _s, off, end), = nl.messages(data)
    msg = nl.parse(t, data, off, end)
    assert msg is not None and msg.ip(nl.NDA_DST) == "10.0.0.2" and msg.mac(nl.NDA_LLADDR) is None
    assert list(nl.messages(data[:-4])) == []  # a message longer than its datagram
    assert nl.parse(nl.RTM_NEWNEIGH, data, 16, 20) is None  # shorter than ndmsg


def test_addresses_match_pyroute2() -> None:
    pyroute2 = pytest.importorskip("pyroute2")

    async def ours() -> set[tuple[str, str, bool]]:
        reader = nl.RtNetlink()
        try:
            return {(a.ifname, a.address, a.loopback) for a in await read_addresses(reader)}
        finally:
            reader.close()

    got = asyncio.run(ours())
    with pyroute2.IPRoute() as ipr:
        names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in ipr.get_links()}
        want = set()
        for m in ipr.get_addr():
            addr = m.get_attr("IFA_ADDRESS") if m["family"] == socket.AF_INET6 else m.get_attr("IFA_LOCAL")
            if addr:
                want.add((names[m["index"]], addr, names[m["index"]] == "lo"))
    assert ("lo", "127.0.0.1", True) in got
    assert got == want


def test_neighbour_dump_matches_pyroute2() -> None:
    pyroute2 = pytest.importorskip("pyroute2")

    async def ours() -> set[tuple[int, str | None, str | None, int]]:
        reader = nl.RtNetlink()
        try:
            return {(m.family, m.ip(nl.NDA_DST), m.mac(nl.NDA_LLADDR), m.state)
                    for m in await reader.dump(nl.RTM_GETNEIGH)}
        finally:
            reader.close()

    for _ in range(3):  # an entry may change state between the two dumps: read both again
        got = asyncio.run(ours())
        with pyroute2.IPRoute() as ipr:
            want = {(m["family"], m.get_attr("NDA_DST"), m.get_attr("NDA_LLADDR"), m["state"])
                    for m in ipr.get_neighbours()}
        if got == want:
            break
    assert got == want
