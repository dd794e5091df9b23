"""A feed followed by zone transfer: `url = "xfr://HOST[:PORT]/ZONE"` (docs/rpz.md).

Imported only by the sync child (`dnsfilter feeds sync`): dnspython's transfer code, messages
and TSIG cost the resident daemon nothing. The transfer itself is dnspython's
(`dns.query.inbound_xfr`: AXFR, IXFR with its AXFR-style answers, TSIG on every message that
must carry one); what is ours is where the records go. A 1M-name zone held as dnspython objects
would take gigabytes, so the transaction manager here streams them to text instead:

- an AXFR writes each record as a line of a zone file beside `NAME.src`, renamed over it when
  the transfer is complete (a cut or badly signed transfer leaves the last good file);
- an IXFR keeps only the differences (a 1 % change of a 1M-name zone is 10k records), then
  copies the stored zone with the deletions left out and the additions at the end. A deletion
  the stored zone does not hold means the two disagree: the feed falls back to an AXFR.

`NAME.src` is the zone as of the serial its SOA line (the second line) holds: that serial is
what the next IXFR asks from, whatever the status file says, so a sync killed halfway asks
from the right place. The rest of the sync (compile aside, min_entries, max_shrink, promote)
is feeds/sync.py's, as for any feed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.serial
import dns.transaction
import dns.tsig
import dns.xfr

from dnsfilter.config import Config, Feed
from feeds.xfr_relay import Relay

HEAD = "; dnsfilter: {zone} by zone transfer from {where}\n"
TIMEOUT = 30.0  # seconds a primary may take for one message
LIFETIME = 600.0  # and for the whole transfer


@dataclass
class XfrResult:
    status: str  # "new" | "unchanged" | "failed"
    kind: str = ""  # "axfr" | "ixfr" | "up to date"
    serial: int | None = None
    soa: tuple[int, int, int, int] = (0, 0, 0, 0)  # refresh, retry, expire, minimum
    bytes: int = 0  # of zone text written ("new"), or received as differences (IXFR)
    records: int = 0  # records transferred (an IXFR: deleted plus added)
    wire_bytes: int = 0  # what the primary sent, TCP framing included
    error: str = ""
    from_serial: int | None = None  # an IXFR's: the serial of the stored zone it started from
    deleted: list[str] = field(default_factory=list)  # an IXFR's net differences, as record lines
    added: list[str] = field(default_factory=list)


_PLAIN = re.compile(rb"[A-Za-z0-9_*-]+(?:\.[A-Za-z0-9_*-]+)*").fullmatch  # labels dnspython writes as they are


class TooBig(dns.exception.DNSException):
    """The zone's text grew past the feed's max_bytes."""


class Disagree(dns.exception.DNSException):
    """An IXFR deleted a record the stored zone does not hold."""


def _key(line: str) -> str:
    """A record line without its TTL: what an IXFR deletion is matched on (RFC 1995 deletes
    records by owner, type and data)."""
    owner, _ttl, rest = line.split(" ", 2)
    return f"{owner} {rest}"


class _Zone(dns.transaction.TransactionManager):
    """Where one transfer's records go: the stored zone file and its replacement."""

    def __init__(self, origin: dns.name.Name, src: Path, max_bytes: int, head: str) -> None:
        self.origin, self.src, self.max_bytes, self.head = origin, src, max_bytes, head
        self.result: _Txn | None = None  # the committed transaction
        self.wire_bytes = 0  # received from the primary (its TCP stream, framing included)
        self.lowered = [x.lower() for x in origin.labels]
        self.types: dict[int, str] = {}  # type -> its text
        self.targets: dict[tuple[bytes, ...], str] = {}  # a CNAME target's labels -> its text

    def reader(self) -> dns.transaction.Transaction:
        raise NotImplementedError("the stored zone is read as text, not through a reader")

    def writer(self, replacement: bool = False) -> dns.transaction.Transaction:
        return _Txn(self, replacement)

    def origin_information(self) -> tuple[dns.name.Name, bool, dns.name.Name]:
        return self.origin, False, self.origin  # names stay absolute: _Txn relativizes the owners

    def get_class(self) -> dns.rdataclass.RdataClass:
        return dns.rdataclass.IN

    def from_wire_origin(self) -> None:
        return None


class _Txn(dns.transaction.Transaction):
    """Streams an AXFR to a file, or collects an IXFR's differences; `commit` writes the new
    zone file aside (`NAME.src.xfr`), never over the stored one (the caller does that)."""

    def __init__(self, zone: _Zone, replacement: bool) -> None:
        super().__init__(zone, replacement)
        self.zone = zone
        self.soa: str | None = None
        self.deleted: dict[str, str] = {}  # key -> the line as the IXFR deleted it
        self.added: dict[str, str] = {}  # key -> line, in order
        self.records = self.size = 0
        self.body = zone.src.with_name(zone.src.name + ".body") if replacement else None
        self.out = open(self.body, "w", encoding="utf-8") if self.body is not None else None

    def _lines(self, name: dns.name.Name, rdataset: Any) -> list[str]:
        """The records as zone file lines. dnspython's parse of the message is most of a
        transfer's time; of ours, the text of each record: plain owners and CNAME targets (the
        lines of a policy zone) are written from their labels, each target's text once."""
        zone, labels = self.zone, name.labels
        cut = len(labels) - len(zone.origin.labels)
        raw = b".".join(labels[:cut])
        if cut > 0 and raw.count(b".") == cut - 1 and _PLAIN(raw) and [x.lower() for x in labels[cut:]] == zone.lowered:
            owner = raw.decode()
        else:
            owner = name.relativize(zone.origin).to_text()
        kind = zone.types.get(rdataset.rdtype) or zone.types.setdefault(
            rdataset.rdtype, dns.rdatatype.to_text(rdataset.rdtype))
        head = f"{owner} {rdataset.ttl} IN {kind} "
        if rdataset.rdtype == dns.rdatatype.CNAME:
            targets = zone.targets
            out = []
            for rd in rdataset:
                text = targets.get(rd.target.labels)
                if text is None:
                    text = rd.to_text(origin=zone.origin, relativize=False)
                    if len(targets) < 4096:  # the actions, and a few walled gardens
                        targets[rd.target.labels] = text
                out.append(head + text)
            return out
        return [head + rd.to_text(origin=zone.origin, relativize=False) for rd in rdataset]

    def _grow(self, n: int) -> None:
        self.size += n
        if self.size > self.zone.max_bytes:
            raise TooBig(f"the zone is over max_bytes = {self.zone.max_bytes}")

    def add(self, *args: Any) -> None:
        name, rdataset = args
        self.records += len(rdataset)
        for line in self._lines(name, rdataset):
            self._grow(len(line) + 1)
            if self.out is not None:
                self.out.write(line + "\n")
            else:  # also after its deletion by an earlier step: the stored line goes, this one comes
                self.added[_key(line)] = line

    def delete_exact(self, *args: Any) -> None:
        name, rdataset = args
        self.records += len(rdataset)
        for line in self._lines(name, rdataset):
            key = _key(line)
            if self.added.pop(key, None) is None:
                self.deleted[key] = line

    def replace(self, *args: Any) -> None:
        name, rdataset = args
        if rdataset.rdtype != dns.rdatatype.SOA or name != self.zone.origin:
            raise dns.exception.FormError("only the zone's SOA is replaced during a transfer")
        self.soa = self._lines(name, rdataset)[0]

    def commit(self) -> None:
        self._end(True)

    def rollback(self) -> None:
        if not self._ended:  # a commit that raised has ended the transaction already
            self._end(False)

    def _end_transaction(self, commit: bool) -> None:
        if self.out is not None:
            self.out.close()
        try:
            if commit:
                self._write()
                self.zone.result = self
        finally:
            if self.body is not None:
                self.body.unlink(missing_ok=True)

    def _write(self) -> None:
        if self.soa is None:
            raise dns.exception.FormError("a transfer without the zone's SOA")
        new = self.zone.src.with_name(self.zone.src.name + ".xfr")
        try:
            with open(new, "w", encoding="utf-8") as out:
                out.write(self.zone.head)
                out.write(f"$ORIGIN {self.zone.origin.to_text()}\n{self.soa}\n")
                if self.body is not None:
                    with open(self.body, encoding="utf-8") as body:
                        while chunk := body.read(1 << 20):
                            out.write(chunk)
                else:
                    self._apply(out)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            new.unlink(missing_ok=True)
            raise

    def _apply(self, out: Any) -> None:
        """The stored zone with this IXFR's deletions left out and its additions at the end:
        by whole lines, in blocks, when each deleted record is stored as the IXFR wrote it (the
        common case: a second per million lines less than reading each line), else line by line."""
        if not self._apply_exact(out):
            out.seek(0)
            out.truncate()
            out.write(self.zone.head)
            out.write(f"$ORIGIN {self.zone.origin.to_text()}\n{self.soa}\n")
            self._apply_by_key(out)
        for line in self.added.values():
            self._grow(len(line) + 1)
            out.write(line + "\n")

    def _apply_exact(self, out: Any) -> bool:
        """Whether every deleted record was found as its exact line (and left out)."""
        gone = {line.encode() for line in self.deleted.values()}
        found = 0
        out.flush()  # what the text layer holds goes first: the blocks are written beneath it
        self.size = 0
        with open(self.zone.src, "rb") as old:
            for _ in range(3):  # the head, $ORIGIN and the old SOA
                old.readline()
            rest = b""
            while block := old.read(1 << 22):
                block = rest + block
                cut = block.rfind(b"\n") + 1
                block, rest = block[:cut], block[cut:]
                lines = block.split(b"\n")
                if not gone.isdisjoint(lines):
                    kept = [x for x in lines if x not in gone]
                    found += len(lines) - len(kept)
                    block = b"\n".join(kept)
                self._grow(len(block))
                out.buffer.write(block)
            if rest:
                return False  # a last line without its newline: not a file this module wrote
        return found == len(gone) == len(self.deleted)

    def _apply_by_key(self, out: Any) -> None:
        found = self.size = 0
        with open(self.zone.src, encoding="utf-8") as old:
            for n, line in enumerate(old):
                if n < 3 or line.startswith(";"):  # the head, $ORIGIN and the old SOA
                    continue
                line = line.rstrip("\n")
                if _key(line) in self.deleted:
                    found += 1
                    continue
                self._grow(len(line) + 1)
                out.write(line + "\n")
        if found != len(self.deleted):
            raise Disagree(f"{len(self.deleted) - found} deleted record(s) not in the stored zone")

    # The low-level API that add/replace/delete_exact above make unnecessary.
    def _get_rdataset(self, name: Any, rdtype: Any, covers: Any) -> None:
        return None

    def _put_rdataset(self, name: Any, rdataset: Any) -> None:
        raise NotImplementedError

    def _delete_name(self, name: Any) -> None:
        raise NotImplementedError

    def _delete_rdataset(self, name: Any, rdtype: Any, covers: Any) -> None:
        raise NotImplementedError

    def _name_exists(self, name: Any) -> bool:
        return False

    def _changed(self) -> bool:
        return bool(self.records)

    def _set_origin(self, origin: Any) -> None:
        pass

    def _iterate_rdatasets(self) -> Any:
        return iter(())

    def _iterate_names(self) -> Any:
        return iter(())

    def _get_node(self, name: Any) -> None:
        return None


def stored_soa(src: Path) -> tuple[int, tuple[int, int, int, int]] | None:
    """(serial, (refresh, retry, expire, minimum)) of the stored zone, None when there is
    none or it was not written by a transfer."""
    try:
        with open(src, encoding="utf-8") as f:
            head = [f.readline() for _ in range(3)]
    except (OSError, UnicodeDecodeError):
        return None
    if not head[0].startswith("; dnsfilter: ") or not head[1].startswith("$ORIGIN "):
        return None
    fields = head[2].split()
    if len(fields) != 11 or fields[3] != "SOA" or not all(x.isdigit() for x in fields[6:]):
        return None
    serial, refresh, retry, expire, minimum = map(int, fields[6:])
    return serial, (refresh, retry, expire, minimum)


def transfer(cfg: Config, feed: Feed, src: Path, *, timeout: float = TIMEOUT,
             lifetime: float = LIFETIME) -> XfrResult:
    """Bring `src` up to the primary's version of the zone: IXFR from the stored serial, an
    AXFR when there is none or the primary (or a disagreement) says so. Never raises for
    network, TSIG or zone problems: status "failed" with one line saying why, `src` untouched."""
    where = feed.xfr
    assert where is not None
    shown = f"{where.host}:{where.port}" if ":" not in where.host else f"[{where.host}]:{where.port}"
    key = None
    if feed.tsig is not None:
        try:
            key = dns.tsig.Key(feed.tsig.name, cfg.tsig_secret(feed), feed.tsig.algorithm)
        except ValueError as e:
            return XfrResult("failed", error=str(e))
    origin = dns.name.from_text(where.zone)
    stored = stored_soa(src)
    zone = _Zone(origin, src, feed.max_bytes, HEAD.format(zone=where.zone, where=shown))
    kind = "ixfr" if stored is not None else "axfr"
    try:
        try:
            got = _once(zone, where.host, where.port, stored[0] if stored else None, key, timeout, lifetime)
        except (Disagree, dns.xfr.TransferError) as e:
            if stored is None or (isinstance(e, dns.xfr.TransferError) and e.rcode in (
                    dns.rcode.REFUSED, dns.rcode.NOTAUTH)):
                raise
            kind = "axfr"  # the primary cannot give differences from our serial, or they do not fit
            got = _once(zone, where.host, where.port, None, key, timeout, lifetime)
    except dns.xfr.SerialWentBackwards:
        return XfrResult("failed", error=f"{shown} has an older serial of {where.zone} than the one we hold "
                                         f"({stored[0] if stored else '?'}); keeping the last good version")
    except Exception as e:  # every failure of a transfer keeps the last good version
        return XfrResult("failed", error=f"zone transfer of {where.zone} from {shown} failed: {_why(e)}")
    finally:
        src.with_name(src.name + ".body").unlink(missing_ok=True)
    new = src.with_name(src.name + ".xfr")
    if got is None:  # the IXFR answered with the serial we hold
        assert stored is not None
        return XfrResult("unchanged", "up to date", stored[0], stored[1], wire_bytes=zone.wire_bytes)
    head = stored_soa(new)
    if head is None:
        new.unlink(missing_ok=True)
        return XfrResult("failed", error=f"zone transfer of {where.zone} from {shown}: unreadable SOA")
    if stored is not None and kind == "axfr" and dns.serial.Serial(head[0]) < stored[0]:
        new.unlink(missing_ok=True)
        return XfrResult("failed", error=f"{shown} sent serial {head[0]} of {where.zone}, older than the one we "
                                         f"hold ({stored[0]}); keeping the last good version")
    os.replace(new, src)
    x = XfrResult("new", kind, head[0], head[1], bytes=src.stat().st_size, records=got.records,
                  wire_bytes=zone.wire_bytes)
    if kind == "ixfr" and stored is not None and got.body is None:  # differences, not an AXFR-style answer
        x.from_serial, x.deleted, x.added = stored[0], list(got.deleted.values()), list(got.added.values())
    return x


def _once(zone: _Zone, host: str, port: int, serial: int | None, key: dns.tsig.Key | None, timeout: float,
          lifetime: float) -> _Txn | None:
    """One transfer (IXFR from `serial`, or AXFR when None); the committed transaction, or None
    when the primary says we are up to date."""
    zone.result = None
    # as dns.xfr.make_query, which would read serial 0 as "ask the zone for its serial"
    query = dns.message.make_query(zone.origin, dns.rdatatype.AXFR if serial is None else dns.rdatatype.IXFR)
    if serial is not None:
        rrset = query.find_rrset(query.authority, zone.origin, dns.rdataclass.IN, dns.rdatatype.SOA, create=True)
        rrset.add(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SOA, f". . {serial} 0 0 0 0"), 0)
    if key is not None:
        query.use_tsig(key)
    with Relay(host, port, cap=2 * zone.max_bytes + (1 << 20), timeout=lifetime) as relay:
        dns.query.inbound_xfr(relay.host, zone, query, port=relay.port, timeout=timeout, lifetime=lifetime)
    zone.wire_bytes += relay.received
    if zone.result is None and serial is None:
        raise dns.exception.FormError("the AXFR ended without a complete zone")
    return zone.result


def _why(e: BaseException) -> str:
    """One line for a failed transfer (never a secret: TSIG errors name the key, not its data)."""
    if isinstance(e, dns.exception.Timeout | TimeoutError):
        return "timed out"
    if isinstance(e, EOFError):
        return "the primary closed the connection before the end of the zone (truncated transfer)"
    if isinstance(e, dns.tsig.PeerBadKey):
        return "the primary does not know our TSIG key (BADKEY)"
    if isinstance(e, dns.tsig.PeerBadSignature | dns.tsig.PeerBadTime | dns.tsig.PeerBadTruncation):
        return f"the primary rejected our TSIG signature ({type(e).__name__})"
    if isinstance(e, dns.tsig.BadSignature | dns.tsig.BadAlgorithm | dns.tsig.BadTime):
        return f"the answer's TSIG signature does not verify with our key ({type(e).__name__})"
    if isinstance(e, dns.xfr.TransferError):
        return f"the primary answered {dns.rcode.to_text(e.rcode)}"
    if isinstance(e, dns.message.UnknownTSIGKey):
        return "the answer is signed with a key we do not have"
    if isinstance(e, ConnectionError | OSError):
        return f"{type(e).__name__}: {getattr(e, 'strerror', None) or e}"
    text = " ".join(str(e).split())[:200]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
