"""Scrubbing upstream answers: only the records that answer the question are cached and passed on.

An upstream answer may carry records that have nothing to do with the question (a forged or
broken answer to `x.test` that also says `victim.other A 6.6.6.6`). Like Unbound's scrubber
(iter_scrub.c), and unlike dnsmasq, such records are dropped before the answer is cached or
sent to anyone. What stays, section by section (RFC 2181 §5.4.1 ranks, RFC 1034 §4.3.2):

- answer: the chain from the question name: records of the asked type (any type for ANY)
  at a chain name, the CNAMEs that lead on, DNAMEs above a chain name (and the names they
  lead to), and RRSIGs at those names;
- authority: SOA and NS records of a zone that holds a chain name (an ancestor of it, the
  root included), and the DNSSEC proofs (NSEC, NSEC3, DS, RRSIG) inside such a zone or inside
  the zone that signed the answer;
- additional: addresses (A, AAAA, their RRSIGs) of the names the kept records point at (NS,
  MX, SRV, SVCB/HTTPS targets). The OPT record is kept as it was.
- everything of another class than the question's is dropped.

An answer with nothing to drop is returned as the same object (no copy); the shapes most answers
have (the asked type owned by the question, a negative answer with its zone's SOA, a CNAME chain
in order) are told from pointers to the question without building a name (`_as_sent`), and
anything else is walked in full (`scrub_full`, what the shortcut is tested against). For an
answer with something to drop, a new message is written: the header and question as they were,
each kept record with its names written out in full (a compression pointer could point into a
dropped record), and the OPT record last. So is an answer with a name that reads a TTL field or
the header (pointers.py).
"""

from __future__ import annotations

import struct
from typing import Final

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.pointers import RDATA_NAMES, data_inside, data_touches, inside, mask_of, reads_ttls
from dnsfilter.core.dns.wire import Record, Response, WireError

T_NSEC: Final = 47
T_NSEC3: Final = 50
T_SRV: Final = 33
MAX_MESSAGE: Final = 65535
_PROOFS: Final = frozenset({T_NSEC, T_NSEC3, wire.T_DS, wire.T_RRSIG})
_ADDRESSES: Final = frozenset({wire.T_A, wire.T_AAAA, wire.T_RRSIG})
# Where a kept record names a host whose addresses may follow in the additional section.
_TARGET_AT: Final = {wire.T_NS: 0, wire.T_MX: 2, T_SRV: 6, wire.T_SVCB: 2, wire.T_HTTPS: 2}
# Types whose rdata names may be compressed (RFC 3597 §4): written out in full when copied.
_NAME_RDATA: Final = frozenset({wire.T_CNAME, wire.T_DNAME, wire.T_NS, wire.T_PTR})
_RRFIXED: Final = struct.Struct(">HHIH")
_QNAME_PTR: Final = b"\xc0\x0c"


def ancestors(name: bytes) -> list[bytes]:
    """`name` and every name above it up to the root (lower-case wire forms)."""
    out = []
    i = 0
    while True:
        out.append(name[i:])
        n = name[i]
        if n == 0:
            return out
        i += n + 1


def is_below(name: bytes, zone: bytes) -> bool:
    """`name` is `zone` or a name under it."""
    return len(zone) <= len(name) and zone in ancestors(name)


def _target(buf: bytes, rec: Record, at: int) -> bytes | None:
    """The lower-case name in a record's rdata at offset `at`, None when it does not read."""
    if rec.rdlen <= at:
        return None
    try:
        labels, end = wire.read_name(buf, rec.rdata_off + at)
    except WireError:
        return None
    if end > rec.rdata_off + rec.rdlen:
        return None
    return wire.labels_to_wire([lab.lower() for lab in labels])


def _signer(buf: bytes, rec: Record, owner: bytes) -> bytes | None:
    """An RRSIG's signer (RFC 4034 §3.1.7, never compressed), if it is above the owner."""
    signer = _target(buf, rec, 18)
    return signer if signer is not None and is_below(owner, signer) else None


def relevant(buf: bytes, r: Response) -> tuple[list[bool], set[bytes]]:
    """Which of `r.records` belong to the answer, and the chain's names. Linear in the records
    (times the labels of a name): a hostile answer cannot make it quadratic."""
    recs = r.records
    owners: list[bytes | None] = []
    for rec in recs:
        try:
            owners.append(wire.record_name(buf, rec) if rec.rclass == r.qclass else None)
        except WireError:
            owners.append(None)
    keep = [False] * len(recs)
    at_name: dict[bytes, list[int]] = {}  # answer records by owner
    for i, rec in enumerate(recs):
        owner = owners[i]
        if rec.section == 1 and owner is not None:
            at_name.setdefault(owner, []).append(i)
    chain = {r.qname}
    has_dname = any(rec.rtype == wire.T_DNAME for rec in recs)
    dnames: set[bytes] = set()
    todo = [r.qname]
    any_type = r.qtype == wire.T_ANY
    while todo:  # the chain, in whatever order its records came
        name = todo.pop()
        for i in at_name.get(name, ()):
            rtype = recs[i].rtype
            if rtype == wire.T_CNAME:
                target = _target(buf, recs[i], 0)
                if target is None:
                    continue
                if target not in chain:
                    chain.add(target)
                    todo.append(target)
            elif rtype != r.qtype and rtype != wire.T_RRSIG and not any_type:
                continue
            keep[i] = True
        for above in ancestors(name)[1:] if has_dname else ():  # a DNAME above redirects it (RFC 6672)
            for i in at_name.get(above, ()):
                target = _target(buf, recs[i], 0) if recs[i].rtype == wire.T_DNAME else None
                if target is None:
                    continue
                keep[i] = True
                dnames.add(above)
                moved = name[: len(name) - len(above)] + target
                if len(moved) <= wire.MAX_NAME and moved not in chain:
                    chain.add(moved)
                    todo.append(moved)
    for owner in dnames:  # the DNAMEs' signatures
        for i in at_name[owner]:
            if recs[i].rtype == wire.T_RRSIG:
                keep[i] = True
    # The zones the answer comes from: those that signed it, and those whose SOA or NS records
    # own a chain name.
    zones: set[bytes] = set()
    for i, rec in enumerate(recs):
        owner = owners[i]
        if keep[i] and rec.rtype == wire.T_RRSIG and owner is not None:
            signer = _signer(buf, rec, owner)
            if signer is not None:
                zones.add(signer)
    above_chain = {a for c in chain for a in ancestors(c)}
    authority = [i for i, rec in enumerate(recs) if rec.section == 2 and owners[i] is not None]
    for i in authority:
        if recs[i].rtype in (wire.T_SOA, wire.T_NS) and owners[i] in above_chain:
            keep[i] = True
            zones.add(owners[i])  # type: ignore[arg-type]
    for i in authority:
        owner = owners[i]
        if recs[i].rtype in _PROOFS and owner is not None and not zones.isdisjoint(ancestors(owner)):
            keep[i] = True
    wanted: set[bytes] = set()
    for i, rec in enumerate(recs):
        at = _TARGET_AT.get(rec.rtype)
        if keep[i] and at is not None:
            target = _target(buf, rec, at)
            if target == b"\x00" and rec.rtype in (wire.T_SVCB, wire.T_HTTPS):
                target = owners[i]  # TargetName "." is the owner itself (RFC 9460 §2.5)
            if target is not None:
                wanted.add(target)
    for i, rec in enumerate(recs):
        if rec.section == 3 and rec.rtype in _ADDRESSES and owners[i] in wanted:
            keep[i] = True
    return keep, chain


def chain_names(buf: bytes, r: Response) -> set[bytes]:
    """The names the answer's chain goes through, the question's first."""
    return relevant(buf, r)[1]


def scrub(buf: bytes, r: Response) -> bytes:
    """`buf` when every record belongs to the answer and its names can be replayed; otherwise
    a message without the rest, its names written out."""
    if not r.records:
        return buf
    # Most answers: records of the asked type owned by a pointer to the question, no names in
    # their data. Nothing to drop and nothing to rewrite: said without reading a name.
    qtype, qclass = r.qtype, r.qclass
    for rec in r.records:
        rtype = rec.rtype
        if (rec.section != 1 or rec.rclass != qclass or (rtype != qtype and rtype != wire.T_RRSIG)
                or rtype in RDATA_NAMES or buf[rec.name_off:rec.name_off + 2] != _QNAME_PTR):
            break
    else:
        return buf
    if _as_sent(buf, r):
        return buf
    return scrub_full(buf, r)


def scrub_full(buf: bytes, r: Response) -> bytes:
    """`scrub` without its shortcuts: every record's names read, every section's rules applied
    (what the shortcuts are tested against, tests/unit/core/dns/test_scrub_shortcut.py)."""
    if not r.records:
        return buf
    keep, _chain = relevant(buf, r)
    if all(keep) and not reads_ttls(buf, r):
        return buf
    kept = [rec for rec, k in zip(r.records, keep, strict=True) if k]
    out = _write(buf, r, kept)
    if len(out) > MAX_MESSAGE:  # written out in full it no longer fits: the answer alone
        out = _write(buf, r, [rec for rec in kept if rec.section == 1])
    if len(out) > MAX_MESSAGE:  # still not: truncated, so that it is asked again over TCP
        out = _write(buf, r, [], wire.F_TC)
    return out


def _as_sent(buf: bytes, r: Response) -> bool:
    """True only when `scrub_full` would return `buf` as it came, said from the shapes most
    answers have, without reading a name twice: a negative answer (an SOA or NS record owned by
    a pointer to a label of the question name, so an ancestor of it) and a positive one whose
    CNAME chain runs in order (each record owned by a pointer to the question's name or to a
    target of a CNAME before it), with such SOA or NS records in the authority section, and
    in the additional one only OPT and the addresses (A, AAAA) of the hosts those records name,
    each owned by a pointer to where its record names it (glue, as authoritative servers
    send it: 57k instructions a miss when it took the full path). The names in their data are still walked for
    pointers into the header or a TTL field, as `reads_ttls` does. False: no opinion, the full
    path decides."""
    if r.qtype == wire.T_ANY:
        return False
    qstarts = r.qstarts
    qclass, qtype = r.qclass, r.qtype
    qroot = r.question_end - 5  # the question name's root byte
    chain = {12}  # where a chain name is written: the question's, then each CNAME target's
    names = False  # a record with names in its data
    # Where a kept NS, MX or SRV record's target host is written: the owner of an address in
    # the additional section (glue, as authoritative servers send it)
    targets: dict[int, tuple[Record, int]] = {}
    for rec in r.records:
        off = rec.name_off
        c = buf[off]
        if c < 0xC0 or rec.rclass != qclass:
            return False
        ptr = (c & 0x3F) << 8 | buf[off + 1]
        rtype = rec.rtype
        if rec.section == 3:  # only A and AAAA owned by a pointer to a kept record's target
            if (rtype != wire.T_A and rtype != wire.T_AAAA) or not _glue(buf, targets, ptr, qstarts, qroot):
                return False
            continue
        # (only types whose data names are walked below: SVCB/HTTPS targets are not)
        at = _TARGET_AT.get(rtype) if rtype in RDATA_NAMES else None
        if at is not None:
            targets[rec.rdata_off + at] = (rec, at)
        if rec.section == 1:
            if ptr not in chain:
                return False
            if rtype == wire.T_CNAME:
                # a target that does not read: the full path drops the record (inside says it reads)
                if (inside(buf, rec.rdata_off, rec.rdata_off + rec.rdlen, qstarts, qroot) < 0
                        and _target(buf, rec, 0) is None):
                    return False
                chain.add(rec.rdata_off)
                first = buf[rec.rdata_off]
                if first >= 0xC0:  # the target is itself a pointer: a record may point where it does
                    chain.add((first & 0x3F) << 8 | buf[rec.rdata_off + 1])
                names = True
            elif rtype != qtype and rtype != wire.T_RRSIG:
                return False
            elif rtype in RDATA_NAMES:
                names = True
        elif rtype == wire.T_SOA or rtype == wire.T_NS:
            if ptr not in qstarts:
                return False
            names = True
        else:
            return False
    if not names:
        return True
    # Owners point at the question's labels, where `touches` stops, or at a CNAME's target,
    # walked below as that CNAME's data: only the names in data are left to walk. Most stay
    # inside their record's data (which is no header and no TTL field) up to a pointer to the
    # question: said without a mask.
    for rec in r.records:
        if not data_inside(buf, rec, qstarts, qroot):
            break
    else:
        return True
    mask = mask_of(buf, r)
    for rec in r.records:
        if data_touches(buf, rec, mask, qstarts):
            return False
    return True


def _glue(buf: bytes, targets: dict[int, tuple[Record, int]], ptr: int, qstarts: tuple[int, ...], qroot: int) -> bool:
    """An additional record owned by a pointer to `ptr` is kept by `relevant`: ptr is where a
    kept NS, MX or SRV record's target is written, and that target reads and is not the root
    (a root target is left to the full path). Said True once per target, most often without
    building the name (`inside`)."""
    t = targets.get(ptr)
    if t is None:
        return False
    rec, at = t
    if at >= 0:
        if buf[ptr] == 0 or (inside(buf, ptr, rec.rdata_off + rec.rdlen, qstarts, qroot) < 0
                             and _target(buf, rec, at) is None):
            return False
        targets[ptr] = (rec, -1)  # read: the next address of the same host needs no walk
    return True


def _write(buf: bytes, r: Response, kept: list[Record], flags: int = 0) -> bytes:
    counts = [0, 0, 0]
    body = []
    for rec in kept:
        labels, _ = wire.read_name(buf, rec.name_off)
        owner = wire.labels_to_wire(labels)
        if owner.lower() == r.qname:
            owner = _QNAME_PTR  # the question's name: as compact as the upstream sent it
        try:
            rdata = expand_rdata(buf, rec)
        except WireError:  # a name in it does not read: the record goes too
            continue
        counts[rec.section - 1] += 1
        body.append(owner + _RRFIXED.pack(rec.rtype, rec.rclass, rec.ttl, len(rdata)) + rdata)
    opt = buf[r.opt_span[0]:r.opt_span[1]] if r.opt_span else b""
    head = wire.header(r.id, r.flags | flags, 1, counts[0], counts[1], counts[2] + (1 if opt else 0))
    return head + buf[12:r.question_end] + b"".join(body) + opt


def expand_rdata(buf: bytes, rec: Record) -> bytes:
    """A record's rdata with any compressed names written out in full. WireError when a name
    in it does not read or runs past the rdata."""
    start, end = rec.rdata_off, rec.rdata_off + rec.rdlen
    if rec.rtype in _NAME_RDATA:
        labels, off = wire.read_name(buf, start)
        out = wire.labels_to_wire(labels)
    elif rec.rtype == wire.T_MX and rec.rdlen > 2:
        labels, off = wire.read_name(buf, start + 2)
        out = buf[start:start + 2] + wire.labels_to_wire(labels)
    elif rec.rtype == wire.T_SOA:
        mname, off = wire.read_name(buf, start)
        rname, off = wire.read_name(buf, off)
        if end - off != 20:
            raise WireError("SOA rdata of the wrong length")
        return wire.labels_to_wire(mname) + wire.labels_to_wire(rname) + buf[off:end]
    else:
        return buf[start:end]
    if off > end:
        raise WireError("a name runs past its rdata")
    return out  # everything else is never compressed (SRV/SVCB/HTTPS names included)
