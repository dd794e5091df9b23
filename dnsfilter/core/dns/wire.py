"""DNS wire format without a full parse: the query reader, the response walker and names.

The hot path never builds dnslib objects. A query is read straight from its bytes into a
small `Query`; a response is walked once to find its records, TTL fields and OPT record so
that it can be cached and replayed with the TTLs counted down.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

# RR types and classes the core cares about.
T_A: Final = 1
T_NS: Final = 2
T_CNAME: Final = 5
T_SOA: Final = 6
T_PTR: Final = 12
T_MX: Final = 15
T_TXT: Final = 16
T_AAAA: Final = 28
T_DNAME: Final = 39
T_OPT: Final = 41
T_DS: Final = 43
T_RRSIG: Final = 46
T_HTTPS: Final = 65
T_SVCB: Final = 64
T_IXFR: Final = 251
T_AXFR: Final = 252
T_MAILB: Final = 253
T_MAILA: Final = 254
T_ANY: Final = 255
C_IN: Final = 1
C_CH: Final = 3
C_ANY: Final = 255

RCODE_NOERROR: Final = 0
RCODE_FORMERR: Final = 1
RCODE_SERVFAIL: Final = 2
RCODE_NXDOMAIN: Final = 3
RCODE_NOTIMP: Final = 4
RCODE_REFUSED: Final = 5
RCODE_BADVERS: Final = 16  # extended: carried partly in the OPT TTL field

F_QR: Final = 0x8000
F_AA: Final = 0x0400
F_TC: Final = 0x0200
F_RD: Final = 0x0100
F_RA: Final = 0x0080
F_AD: Final = 0x0020
F_CD: Final = 0x0010
OPCODE_MASK: Final = 0x7800
EDNS_DO: Final = 0x8000
OPT_EDE: Final = 15
OPT_ECS: Final = 8
OPT_COOKIE: Final = 10
OPT_PADDING: Final = 12

MAX_NAME: Final = 255
MAX_POINTER_HOPS: Final = 64

_HDR: Final = struct.Struct(">HHHHHH")
_TYPECLASS: Final = struct.Struct(">HH")
_RRFIXED: Final = struct.Struct(">HHIH")
_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_to_bytes: Final = int.to_bytes
_QUERY_PARTS: Final[dict[int, tuple[bytes, bytes]]] = {}  # build_query's, by shape


class WireError(ValueError):
    """A message that cannot be read. `rcode` is what to answer, or None to drop it."""

    def __init__(self, why: str, rcode: int | None = RCODE_FORMERR) -> None:
        super().__init__(why)
        self.rcode = rcode


@dataclass(init=False, slots=True, unsafe_hash=True)  # not frozen, as Query (below) is not: see there
class Edns:
    payload: int  # the requester's UDP payload size, never below 512
    do: bool
    version: int
    options: bytes  # raw option TLVs

    # init=False: a dataclass's generated __init__ runs interpreted even when compiled (make native)
    def __init__(self, payload: int, do: bool, version: int, options: bytes) -> None:
        self.payload = payload
        self.do = do
        self.version = version
        self.options = options


@dataclass(init=False, slots=True, unsafe_hash=True)
class Query:
    """One question as read from the wire. Not frozen, though nothing changes it: a frozen
    dataclass sets each field through object.__setattr__, 0.8 µs per query against 0.2.
    Hashed by value as a frozen one would be (unsafe_hash), since nothing changes it."""

    id: int
    flags: int
    qname: bytes  # lower-cased wire form, the key for caches and lists
    qtype: int
    qclass: int
    question: bytes  # the question section exactly as sent (0x20 case kept)
    edns: Edns | None

    # init=False: a dataclass's generated __init__ runs interpreted even when compiled (make native)
    def __init__(self, id: int, flags: int, qname: bytes, qtype: int, qclass: int, question: bytes,
                 edns: Edns | None) -> None:
        self.id = id
        self.flags = flags
        self.qname = qname
        self.qtype = qtype
        self.qclass = qclass
        self.question = question
        self.edns = edns

    @property
    def name(self) -> str:
        """Lower-case dotted text without the root dot (computed on demand: the hot path
        never needs it)."""
        return wire_to_text(self.qname)

    @property
    def do(self) -> bool:
        return self.edns is not None and self.edns.do

    @property
    def cd(self) -> bool:
        return bool(self.flags & F_CD)

    def max_udp(self) -> int:
        return 512 if self.edns is None else min(max(self.edns.payload, 512), 1232)


_SAFE: Final = bytes(b for b in range(0x21, 0x7F) if b not in (0x2E, 0x5C))


def name_to_text(labels: list[bytes]) -> str:
    """Dotted text of a name; odd bytes are escaped as \\DDD so that a label holding a dot
    can never be mistaken for two labels."""
    out = []
    for lab in labels:
        if not lab.translate(None, _SAFE):
            out.append(lab.decode("ascii"))
        else:
            out.append("".join(chr(b) if b in _SAFE else f"\\{b:03d}" for b in lab))
    return ".".join(out)


def text_to_wire(name: str) -> bytes:
    """Wire form of a dotted name (lower-cased). Raises ValueError for an invalid name."""
    name = name.rstrip(".").lower()
    if not name:
        return b"\x00"
    out = bytearray()
    for lab in name.split("."):
        raw = lab.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad label in {name!r}")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > MAX_NAME:
        raise ValueError(f"name too long: {name!r}")
    return bytes(out)


def read_name(buf: bytes, off: int) -> tuple[list[bytes], int]:
    """Read a possibly compressed name. Returns (labels as sent, offset after the name).

    Pointers must point backwards and are capped, so a compression loop is an error."""
    labels: list[bytes] = []
    end = -1
    hops = 0
    total = 1
    n = len(buf)
    while True:
        if off >= n:
            raise WireError("name runs past the end")
        ln = buf[off]
        if ln == 0:
            off += 1
            break
        kind = ln & 0xC0
        if kind == 0xC0:
            if off + 1 >= n:
                raise WireError("truncated compression pointer")
            ptr = ((ln & 0x3F) << 8) | buf[off + 1]
            if end < 0:
                end = off + 2
            if ptr >= off or hops >= MAX_POINTER_HOPS:
                raise WireError("compression pointer loop")
            if ptr < 12:  # no name starts in the header; a reply's header is not the upstream's
                raise WireError("compression pointer into the header")
            hops += 1
            off = ptr
            continue
        if kind:
            raise WireError("bad label type")
        total += ln + 1
        if total > MAX_NAME:
            raise WireError("name longer than 255 octets")
        if off + 1 + ln > n:
            raise WireError("label runs past the end")
        labels.append(buf[off + 1 : off + 1 + ln])
        off += 1 + ln
    return labels, (end if end >= 0 else off)


def labels_to_wire(labels: list[bytes]) -> bytes:
    return b"".join(bytes((len(lab),)) + lab for lab in labels) + b"\x00"


def _read_opt(buf: bytes, off: int, n: int) -> tuple[Edns, int]:
    """Read the OPT RR fixed part that follows its (root) owner name at `off`."""
    if off + 10 > n:
        raise WireError("truncated OPT record")
    # Fields read byte by byte, not with struct: compiled (make native) this is a few C operations
    # where a Struct method call costs 1-2k instructions. Interpreted it costs more than struct
    # (a cache miss +2.4 % instructions, docs/performance.md): the compiled build comes first.
    payload = buf[off + 2] << 8 | buf[off + 3]
    ttl = buf[off + 4] << 24 | buf[off + 5] << 16 | buf[off + 6] << 8 | buf[off + 7]
    rdlen = buf[off + 8] << 8 | buf[off + 9]
    if off + 10 + rdlen > n:
        raise WireError("truncated OPT data")
    opts = buf[off + 10 : off + 10 + rdlen]
    return Edns(max(payload, 512), bool(ttl & EDNS_DO), (ttl >> 16) & 0xFF, opts), off + 10 + rdlen


def _header(buf: bytes) -> tuple[int, int, int, int, int, int]:
    """ID, flags and the four counts of a message of at least 12 bytes (see _read_opt: no struct)."""
    return (buf[0] << 8 | buf[1], buf[2] << 8 | buf[3], buf[4] << 8 | buf[5], buf[6] << 8 | buf[7],
            buf[8] << 8 | buf[9], buf[10] << 8 | buf[11])


def parse_query(buf: bytes) -> Query:
    """Read a query. Raises WireError(rcode) for what must be refused, or rcode=None to drop."""
    if type(buf) is not bytes:  # e.g. a bytearray: the parts kept must be hashable
        buf = bytes(buf)
    n = len(buf)
    if n < 12:
        raise WireError("shorter than a header", None)
    qid, flags, qd, an, ns, ar = _header(buf)
    if flags & F_QR:
        raise WireError("a response sent to the server", None)
    if flags & OPCODE_MASK:
        raise WireError("opcode not implemented", RCODE_NOTIMP)
    if qd != 1:
        raise WireError(f"QDCOUNT is {qd}")
    if an or ns:
        raise WireError("records in the answer or authority section of a query")
    # Question name: plain labels only (a pointer could only point into the header).
    off = 12
    total = 1
    while True:
        if off >= n:
            raise WireError("question name runs past the end")
        ln = buf[off]
        if ln == 0:
            off += 1
            break
        if ln & 0xC0:
            raise WireError("compressed or bad label in the question")
        total += ln + 1
        if total > MAX_NAME:
            raise WireError("name longer than 255 octets")
        off += 1 + ln
    if off + 4 > n:
        raise WireError("question runs past the end")
    qname_end = off
    qtype = buf[off] << 8 | buf[off + 1]
    qclass = buf[off + 2] << 8 | buf[off + 3]
    off += 4
    question = buf[12:off]
    qname = question[: qname_end - 12].lower()
    edns: Edns | None = None
    for _ in range(ar):
        if off >= n:
            raise WireError("additional section runs past the end")
        if buf[off] == 0 and off + 3 <= n and buf[off + 1 : off + 3] == b"\x00\x29":
            if edns is not None:
                raise WireError("more than one OPT record")
            edns, off = _read_opt(buf, off + 1, n)
            continue
        _labels, off = read_name(buf, off)  # e.g. TSIG: skipped, not supported
        if off + 10 > n:
            raise WireError("truncated additional record")
        if buf[off:off + 2] == b"\x00\x29":  # RFC 6891 §6.1.1: an OPT record is owned by the root
            raise WireError("OPT record not owned by the root")
        off += 10 + (buf[off + 8] << 8 | buf[off + 9])
        if off > n:
            raise WireError("truncated additional record data")
    return Query(qid, flags, qname, qtype, qclass, question, edns)


# ---------------------------------------------------------------- responses


@dataclass(init=False, slots=True, unsafe_hash=True)  # not frozen, for the same reason as Query
class Record:
    """One resource record of a walked response; offsets are into the message."""

    name_off: int
    rtype: int
    rclass: int
    ttl: int
    ttl_off: int
    rdata_off: int
    rdlen: int
    section: int  # 1 answer, 2 authority, 3 additional

    # init=False: a dataclass's generated __init__ runs interpreted even when compiled (make native)
    def __init__(self, name_off: int, rtype: int, rclass: int, ttl: int, ttl_off: int, rdata_off: int, rdlen: int,
                 section: int) -> None:
        self.name_off = name_off
        self.rtype = rtype
        self.rclass = rclass
        self.ttl = ttl
        self.ttl_off = ttl_off
        self.rdata_off = rdata_off
        self.rdlen = rdlen
        self.section = section


@dataclass(init=False, slots=True, unsafe_hash=True)  # not frozen: a cache miss walks one per answer
class Response:
    """A walked response: header fields, its question, its records and its OPT record."""

    id: int
    flags: int
    rcode: int
    qname: bytes  # lower-cased wire form
    qtype: int
    qclass: int
    question_end: int
    records: tuple[Record, ...]
    counts: tuple[int, int, int]  # an, ns, ar without OPT
    edns: Edns | None
    opt_span: tuple[int, int] | None  # [start, end) of the OPT RR in the message
    # Where the question name's labels (and its root byte) start: a compression pointer to one
    # of them reads a suffix of the question name, an ancestor of it (scrub.py's shortcut).
    qstarts: tuple[int, ...] = ()

    # init=False: a dataclass's generated __init__ runs interpreted even when compiled (make native)
    def __init__(self, id: int, flags: int, rcode: int, qname: bytes, qtype: int, qclass: int, question_end: int,
                 records: tuple[Record, ...], counts: tuple[int, int, int], edns: Edns | None,
                 opt_span: tuple[int, int] | None, qstarts: tuple[int, ...] = ()) -> None:
        self.id = id
        self.flags = flags
        self.rcode = rcode
        self.qname = qname
        self.qtype = qtype
        self.qclass = qclass
        self.question_end = question_end
        self.records = records
        self.counts = counts
        self.edns = edns
        self.opt_span = opt_span
        self.qstarts = qstarts


def parse_response(buf: bytes, full: bool = False) -> Response:
    """Walk a response: its question and the offsets of its records. Every owner name is
    checked as `read_name` checks it, but the root and a pointer to a label of the question
    (most owners) are stepped over without reading the labels it leads to: they were read
    already. `full`: every name through read_name (what the shortcuts are tested against)."""
    n = len(buf)
    if n < 12:
        raise WireError("shorter than a header")
    qid, flags, qd, an, ns, ar = _header(buf)
    if not flags & F_QR:
        raise WireError("not a response")
    if qd != 1:
        raise WireError(f"QDCOUNT is {qd}")
    # The question's name is plain labels in any message that reads: a pointer in it could
    # only point back into the name itself, a loop. Anything else is left to read_name's errors.
    starts = []
    off = 12
    ln = buf[off] if off < n else 0xFF
    while 0 < ln < 64:
        starts.append(off)
        off += ln + 1
        ln = buf[off] if off < n else 0xFF
    if ln or off - 11 > MAX_NAME or full:
        labels, off = read_name(buf, 12)  # raises what it finds (or reads what this did not)
        qname = labels_to_wire([lab.lower() for lab in labels])
        qstarts: tuple[int, ...] = ()
    else:
        starts.append(off)
        off += 1
        qname = buf[12:off].lower()
        qstarts = tuple(starts)  # a few offsets: a tuple, not a set (cheaper to make, as fast to test)
    if off + 4 > n:
        raise WireError("question runs past the end")
    qtype = buf[off] << 8 | buf[off + 1]
    qclass = buf[off + 2] << 8 | buf[off + 3]
    off += 4
    qend = off
    records: list[Record] = []
    edns = None
    opt_span = None
    counts = [an, ns, ar]
    for section, count in ((1, an), (2, ns), (3, ar)):
        for _ in range(count):
            start = off
            c = buf[off] if off < n and not full else 1  # 1: read_name reads it (or says what is wrong)
            if c == 0:
                off += 1  # the root (an OPT record's owner)
            elif c >= 0xC0 and off + 1 < n and ((c & 0x3F) << 8 | buf[off + 1]) in qstarts:
                off += 2  # a pointer back to the question's name (or a suffix of it)
            else:
                _owner, off = read_name(buf, off)
            if off + 10 > n:
                raise WireError("truncated record")
            rtype = buf[off] << 8 | buf[off + 1]
            rclass = buf[off + 2] << 8 | buf[off + 3]
            ttl = buf[off + 4] << 24 | buf[off + 5] << 16 | buf[off + 6] << 8 | buf[off + 7]
            rdlen = buf[off + 8] << 8 | buf[off + 9]
            if off + 10 + rdlen > n:
                raise WireError("truncated record data")
            if rtype == T_OPT:
                if section != 3 or edns is not None or buf[start] != 0:
                    raise WireError("misplaced OPT record (or not owned by the root)")
                edns, off = _read_opt(buf, off, n)
                opt_span = (start, off)
                counts[2] -= 1
                continue
            records.append(Record(start, rtype, rclass, ttl, off + 4, off + 10, rdlen, section))
            off += 10 + rdlen
    rcode = (flags & 0xF) | (((edns_ext(buf, opt_span)) << 4) if opt_span else 0)
    return Response(qid, flags, rcode, qname, qtype, qclass, qend, tuple(records), (counts[0], counts[1], counts[2]),
                    edns, opt_span, qstarts)


def edns_ext(buf: bytes, span: tuple[int, int] | None) -> int:
    """The upper 8 bits of the extended RCODE from an OPT record."""
    if span is None:
        return 0
    return buf[span[0] + 1 + 4]


def record_name(buf: bytes, rec: Record) -> bytes:
    labels, _ = read_name(buf, rec.name_off)
    return labels_to_wire([lab.lower() for lab in labels])


def rdata_name(buf: bytes, rec: Record) -> bytes:
    """The (lower-cased) name held in the rdata of a CNAME/DNAME/NS/PTR record."""
    labels, _ = read_name(buf, rec.rdata_off)
    return labels_to_wire([lab.lower() for lab in labels])


def wire_to_text(qname: bytes) -> str:
    labels = []
    i = 0
    while qname[i]:
        ln = qname[i]
        labels.append(qname[i + 1 : i + 1 + ln])
        i += 1 + ln
    return name_to_text(labels)


# ---------------------------------------------------------------- building


def header(qid: int, flags: int, qd: int, an: int, ns: int, ar: int) -> bytes:
    return _HDR.pack(qid, flags, qd, an, ns, ar)


def opt_record(payload: int = 1232, do: bool = False, options: bytes = b"", ext_rcode: int = 0) -> bytes:
    ttl = (ext_rcode << 24) | (EDNS_DO if do else 0)
    return b"\x00" + _RRFIXED.pack(T_OPT, payload, ttl, len(options)) + options


def ede_option(code: int, text: str = "") -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 200:  # cut on a character boundary: a client decodes the text as UTF-8
        raw = raw[:200].decode("utf-8", "ignore").encode("utf-8")
    data = _U16.pack(code) + raw
    return _U16.pack(OPT_EDE) + _U16.pack(len(data)) + data


def build_query(qid: int, qname: bytes, qtype: int, qclass: int = C_IN, *, rd: bool = True,
                do: bool = False, cd: bool = False, payload: int = 1232) -> bytes:
    """A query as the appliance sends it upstream: one OPT record, no client subnet."""
    flags = (F_RD if rd else 0) | (F_CD if cd else 0)
    # What comes around the ID and the name is the same for every query of a shape: made once,
    # kept (a miss sent three struct packs, 4.7k instructions compiled)
    shape = (((flags << 1 | (1 if do else 0)) << 16 | qtype) << 16 | qclass) << 16 | payload
    parts = _QUERY_PARTS.get(shape)
    if parts is None:
        if len(_QUERY_PARTS) >= 1024:  # bounded: types and classes come from clients
            _QUERY_PARTS.clear()
        parts = _QUERY_PARTS[shape] = (header(0, flags, 1, 0, 0, 1)[2:],
                                       _TYPECLASS.pack(qtype, qclass) + opt_record(payload, do))
    return _to_bytes(qid, 2, "big") + parts[0] + qname + parts[1]


def rr(rtype: int, ttl: int, rdata: bytes, owner: bytes = b"\xc0\x0c", rclass: int = C_IN) -> bytes:
    """One record; the owner defaults to a pointer at the question name."""
    return owner + _RRFIXED.pack(rtype, rclass, ttl, len(rdata)) + rdata


def u32(value: int) -> bytes:
    return _U32.pack(value)
