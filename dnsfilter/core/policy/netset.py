"""Response-IP rules: the networks a compiled feed lists, looked up by an answer's address.

A feed may list networks besides names (a registry's `ip`/`ipSubnet` entries; RPZ's `rpz-ip`
triggers): an upstream answer whose A or AAAA address falls in one is blocked by that feed,
as a listed name would be (see core/engine.py, `_answer`, and docs/architecture.md).

The networks are held as sorted, merged, disjoint ranges of integers, so a lookup is one C
bisect (IPv4) or two (IPv6) and a comparison; no Python object per network. The section lives
in the compiled feed file after its side table (feedset.py, flag F_NETS), little-endian:

    u32 n4, u32 n6
    n4 × u32 first address of each IPv4 range, then n4 × u32 last address; zero padding to 8
    n6 × u64 high half of each IPv6 range's first address, n6 × u64 its low half,
    n6 × u64 high half of the last address, n6 × u64 its low half

IPv6 ranges are compared as (high, low) pairs: a bisect over the high halves finds the ranges
that start in the same /64 or before it, and a second over their low halves finishes the job.
"""

from __future__ import annotations

import ipaddress
import struct
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Any

_COUNTS = struct.Struct("<II")
_M64 = (1 << 64) - 1
Range = tuple[int, int]  # first and last address, as integers


class NetSetError(ValueError):
    """A networks section that cannot be read (corrupt or truncated)."""


class NetSet:
    """The networks of one feed, read-only (views into the mapped file, or private copies on a
    big-endian host)."""

    __slots__ = ("v4e", "v4s", "v6eh", "v6el", "v6sh", "v6sl")

    def __init__(self, v4s: Any, v4e: Any, v6sh: Any, v6sl: Any, v6eh: Any, v6el: Any) -> None:
        self.v4s, self.v4e = v4s, v4e
        self.v6sh, self.v6sl, self.v6eh, self.v6el = v6sh, v6sl, v6eh, v6el

    def __len__(self) -> int:
        """The number of merged ranges (not of the networks listed)."""
        return len(self.v4s) + len(self.v6sh)

    def has(self, addr: bytes) -> bool:
        """Whether the address (4 or 16 bytes, network order: an A or AAAA record's data) lies
        in a listed network."""
        if len(addr) == 4:
            x = int.from_bytes(addr)
            i = bisect_right(self.v4s, x) - 1
            return i >= 0 and x <= self.v4e[i]
        if len(addr) != 16:
            return False
        hi, lo = int.from_bytes(addr[:8]), int.from_bytes(addr[8:])
        sh = self.v6sh
        a, b = bisect_left(sh, hi), bisect_right(sh, hi)
        i = bisect_right(self.v6sl, lo, a, b) - 1 if a < b else a - 1
        if i < a:
            i = a - 1  # no range starts in this /64 at or before lo: the last one starting before it
        if i < 0:
            return False
        eh = self.v6eh[i]
        return eh > hi or (eh == hi and self.v6el[i] >= lo)

    @classmethod
    def from_view(cls, mv: memoryview, little: bool = True) -> tuple[NetSet, int]:
        """The set in the section at the start of `mv` (bytes), and the section's length."""
        if len(mv) < _COUNTS.size:
            raise NetSetError("networks section truncated")
        n4, n6 = _COUNTS.unpack_from(mv)
        v4_at = _COUNTS.size
        v6_at = v4_at + 8 * n4 + (-(8 * n4) % 8)
        end = v6_at + 32 * n6
        if len(mv) < end:
            raise NetSetError("networks section truncated")

        def part(at: int, code: str, n: int) -> Any:
            view: Any = mv[at : at + n * struct.calcsize(code)]
            if little:
                return view.cast(code)
            arr = array(code)
            arr.frombytes(view)
            arr.byteswap()
            return arr

        four = [part(v4_at + 4 * n4 * k, "I", n4) for k in range(2)]
        six = [part(v6_at + 8 * n6 * k, "Q", n6) for k in range(4)]
        return cls(*four, *six), end


def merge(ranges: Iterable[Range], presorted: bool = False) -> list[Range]:
    """Sorted, disjoint ranges covering the same addresses (overlapping and adjacent ones joined).
    `presorted`: the ranges come in order already (by first address)."""
    out: list[Range] = []
    for first, last in ranges if presorted else sorted(ranges):
        if out and first <= out[-1][1] + 1:
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return out


def image(v4: Iterable[Range], v6: Iterable[Range], presorted: bool = False) -> bytes:
    """The section for these IPv4 and IPv6 ranges (merged here), as NetSet.from_view reads it."""
    m4, m6 = merge(v4, presorted), merge(v6, presorted)
    n4, n6 = len(m4), len(m6)
    parts = [_COUNTS.pack(n4, n6)]
    for k in range(2):
        parts.append(_le("I", (r[k] for r in m4)))
    parts.append(bytes(-(8 * n4) % 8))
    for k in range(2):
        parts.append(_le("Q", (r[k] >> 64 for r in m6)))
        parts.append(_le("Q", (r[k] & _M64 for r in m6)))
    # the four IPv6 arrays go: first-high, first-low, last-high, last-low
    return b"".join(parts)


def _le(code: str, values: Iterable[int]) -> bytes:
    arr = array(code, values)
    if struct.pack("=H", 1) != b"\x01\x00":
        arr.byteswap()
    return arr.tobytes()


def network_range(text: str) -> tuple[int, Range]:
    """(4 or 6, (first, last)) of an address or a network in CIDR form (host bits ignored).
    Raises ValueError for anything else."""
    net = ipaddress.ip_network(text.strip(), strict=False)
    return net.version, (int(net.network_address), int(net.broadcast_address))


def address_text(addr: bytes) -> str:
    """An A or AAAA record's data as text (for a block's reason)."""
    return str(ipaddress.ip_address(addr))
