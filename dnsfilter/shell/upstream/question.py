"""The question asked of an upstream, how its query is built and whether an answer answers
it. On the query path (a cache miss builds one and checks one), so compiled with it (make
native); base.py re-exports both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.wire import WireError

EDNS_PAYLOAD: Final = 1232  # RFC 9715 / DNS flag day 2020: avoids IP fragmentation


@dataclass(init=False, slots=True, unsafe_hash=True)
class Question:
    """Not frozen, though nothing changes it (as wire.Query): a frozen dataclass sets each field
    through object.__setattr__. Hashed by value as a frozen one would be (unsafe_hash)."""

    qname: bytes  # lower-case wire form
    qtype: int
    qclass: int
    do: bool = False
    cd: bool = False

    # init=False: a dataclass's generated __init__ runs interpreted even when compiled (make native)
    def __init__(self, qname: bytes, qtype: int, qclass: int, do: bool = False, cd: bool = False) -> None:
        self.qname = qname
        self.qtype = qtype
        self.qclass = qclass
        self.do = do
        self.cd = cd

    def build(self, qid: int) -> bytes:
        # build_query never adds a client-subnet option: nothing about the client leaves.
        return wire.build_query(qid, self.qname, self.qtype, self.qclass, do=self.do, cd=self.cd,
                                payload=EDNS_PAYLOAD)


def matches(data: bytes, qid: int | None, q: Question) -> wire.Response | None:
    """The walked response if `data` answers `q` (with ID `qid`, unless None for DoH), else None."""
    try:
        r = wire.parse_response(data)
    except WireError:
        return None
    if qid is not None and r.id != qid:
        return None
    if r.flags & wire.OPCODE_MASK:
        return None
    # parse_response lower-cases the name, so 0x20-style case changes still match.
    if r.qname != q.qname or r.qtype != q.qtype or r.qclass != q.qclass:
        return None
    return r
