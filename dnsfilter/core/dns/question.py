"""The plain UDP query, read from the bytes the fast path keys on (the datagram after its ID).

Nearly every query a resolver gets has one shape: opcode QUERY, one question of class IN in
plain labels, no records but at most one OPT of version 0 without options. `read_plain`
reads that shape in one walk and returns None for anything else (a compressed or odd name,
EDNS options such as a forwarder's client hints or a cookie, trailing bytes, TSIG…), which
`wire.parse_query` and the engine's full path then handle. Nothing here allocates a Query.
"""

from __future__ import annotations

import struct
from typing import Final

from dnsfilter.core.dns.wire import C_IN, F_AD, F_CD, F_RD, MAX_NAME

# What a plain query's 10 header bytes after the ID may be: any of RD, AD, CD, QDCOUNT 1, no
# answer or authority records, 0 or 1 additional (the OPT) -> (flags, has OPT)
_HEADS: Final[dict[bytes, tuple[int, bool]]] = {
    struct.pack(">HHHHH", flags, 1, 0, 0, ar): (flags, bool(ar))
    for flags in {rd | ad | cd for rd in (0, F_RD) for ad in (0, F_AD) for cd in (0, F_CD)}
    for ar in (0, 1)
}
_lower: Final = bytes.lower  # called, not looked up on each name (compiled: a method lookup less)
_OPT_HEAD: Final = b"\x00\x00\x29"  # root owner, type OPT
_OPT_LEN: Final = 11

# (flags, lower-case wire name, label offsets in it, qtype, question as sent, the OPT's UDP
# payload size (at least 512; 0: no OPT), DO)
Plain = tuple[int, bytes, list[int], int, bytes, int, bool]


def read_plain(key: bytes) -> Plain | None:
    """`key`: a UDP query without its 2 ID bytes. None when it is not of the plain shape."""
    head = _HEADS.get(key[:10])
    if head is None:
        return None
    name = key[10:]  # label offsets are taken in the name itself (no `- 10` per label)
    starts: list[int] = []
    i = 0
    try:
        ln = name[0]
        while ln:
            if ln > 63:  # a compression pointer or a bad label type
                return None
            starts.append(i)  # not a bound `add`: compiled (make native), append is a C call
            i += ln + 1
            ln = name[i]
        qtype = name[i + 1] << 8 | name[i + 2]
        if name[i + 3] or name[i + 4] != C_IN:
            return None
    except IndexError:  # the name or its question runs past the end
        return None
    if i >= MAX_NAME:
        return None
    rest = len(name) - i - 5  # after the root byte, QTYPE and QCLASS
    flags, opt = head
    if not opt:
        if rest:
            return None
        return flags, _lower(name[: i + 1]), starts, qtype, name, 0, False
    # OPT: root owner, type 41, payload (2), extended rcode (1), version (1) = 0, flags (2), no data
    qend = i + 5
    if rest != _OPT_LEN or name[qend : qend + 3] != _OPT_HEAD or name[qend + 6] or name[qend + 9] or name[qend + 10]:
        return None
    return (flags, _lower(name[: i + 1]), starts, qtype, name[:qend], max(name[qend + 3] << 8 | name[qend + 4], 512),
            name[qend + 7] >= 0x80)
