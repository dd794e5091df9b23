"""Where a message's names lead: the compression-pointer checks behind scrub.py.

The cache counts TTLs down in place and every reply has its own ID and flags, so a name that
reads bytes of a TTL field or of the header through a compression pointer changes between the
upstream's answer and our replies: a forged answer could make a reply unreadable (the fuzzer
found both, the second an NS target pointing at offset 0). `reads_ttls` finds such names (the
scrubber then writes the message out in full); `data_inside` says cheaply, for the names most
answers carry, that they cannot be such names.
"""

from __future__ import annotations

from typing import Final

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.wire import Record, Response, WireError

T_SRV: Final = 33
MAX_NAME: Final = wire.MAX_NAME
# Where names that a client decompresses sit in rdata: (offset of the first, [a second follows]).
RDATA_NAMES: Final = {wire.T_CNAME: (0,), wire.T_DNAME: (0,), wire.T_NS: (0,), wire.T_PTR: (0,), wire.T_MX: (2,),
               T_SRV: (6,), wire.T_SOA: (0, 1)}
_HEADER_MASK: Final = b"\x01" * 12
_TTL_MASK: Final = b"\x01" * 4


def mask_of(buf: bytes, r: Response) -> bytearray:
    """A byte per byte of `buf`: 1 for the header and every record's TTL field."""
    mask = bytearray(len(buf))
    mask[:12] = _HEADER_MASK
    for rec in r.records:
        mask[rec.ttl_off:rec.ttl_off + 4] = _TTL_MASK
    return mask


def reads_ttls(buf: bytes, r: Response) -> bool:
    """Some name reads bytes of a TTL field, or of the header, through a compression pointer
    (or does not read at all)."""
    mask = mask_of(buf, r)
    starts = set()  # where the question's labels start: a pointer there stays in the question
    i = 12
    while buf[i]:
        starts.add(i)
        i += buf[i] + 1
    starts.add(i)
    for rec in r.records:
        if touches(buf, rec.name_off, mask, starts) or data_touches(buf, rec, mask, starts):
            return True
    return False


def data_touches(buf: bytes, rec: Record, mask: bytearray, question: set[int] | frozenset[int] | tuple[int, ...]) -> bool:
    """A name in the record's data reads a byte marked in `mask` (see touches)."""
    at = RDATA_NAMES.get(rec.rtype)
    if at is None:
        return False
    if rec.rdlen > at[0] and touches(buf, rec.rdata_off + at[0], mask, question):
        return True
    return len(at) == 2 and touches(buf, _name_end(buf, rec.rdata_off), mask, question)


def touches(buf: bytes, off: int, mask: bytearray, question: set[int] | frozenset[int] | tuple[int, ...]) -> bool:
    """The name at `off` reads a byte marked in `mask` (or does not read at all). A pointer to
    a label of the question's name ends the walk: what follows is that name, up to its root."""
    n = len(buf)
    for _ in range(MAX_NAME):
        if off >= n or mask[off]:
            return True
        ln = buf[off]
        if ln == 0:
            return False
        if ln & 0xC0 == 0xC0:
            if off + 1 >= n or mask[off + 1]:
                return True
            off = ((ln & 0x3F) << 8) | buf[off + 1]
            if off in question:
                return False
            continue
        if ln & 0xC0 or off + 1 + ln > n or any(mask[off + 1:off + 1 + ln]):
            return True
        off += 1 + ln
    return True


def _name_end(buf: bytes, off: int) -> int:
    try:
        return wire.read_name(buf, off)[1]
    except WireError:
        return len(buf)


def data_inside(buf: bytes, rec: Record, qstarts: tuple[int, ...], qroot: int) -> bool:
    """The names in the record's data read only bytes of that data (no header, no TTL field),
    up to a pointer to the question's name (or the root), and read as read_name reads them:
    `data_touches` would say False. False: not said here."""
    at = RDATA_NAMES.get(rec.rtype)
    if at is None:
        return True
    end = rec.rdata_off + rec.rdlen
    if rec.rdlen <= at[0]:
        return False
    off = inside(buf, rec.rdata_off + at[0], end, qstarts, qroot)
    if len(at) == 2 and off >= 0:
        off = inside(buf, off, end, qstarts, qroot)
    return off >= 0


def inside(buf: bytes, off: int, end: int, qstarts: tuple[int, ...], qroot: int) -> int:
    """Where the name at `off` ends, if it lies before `end` in plain labels ending in the root
    or in a pointer to a label of the question (`qroot`: the question name's root byte), and
    is no longer than read_name allows; else -1."""
    size = 0  # the name's wire length before its root or pointer
    while off < end and size < MAX_NAME:
        ln = buf[off]
        if ln == 0:
            return off + 1
        if ln >= 0xC0:
            if off + 1 >= end:
                return -1
            ptr = (ln & 0x3F) << 8 | buf[off + 1]
            return off + 2 if ptr in qstarts and size + qroot - ptr + 1 <= MAX_NAME else -1
        if ln >= 64:
            return -1
        size += ln + 1
        off += ln + 1
    return -1
