"""Writing one Response Policy Zone file: records in, `ZONE.zone` out, atomically, with a serial
that grows only when the content changes.

The first line of a file this writes holds the digest of its records: an export that produces
the same records leaves the file (and its serial) alone, so an authoritative server reloading
it sees no change and sends no NOTIFY; different records get serial max(old + 1, unix time),
so serials keep growing across re-exports and machines (RFC 1982 arithmetic never sees them
wrap before 2106).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

from feeds.compile_rules import write_atomic

T_A, T_CNAME, T_TXT, T_AAAA = 1, 5, 16, 28
TYPE_NAMES = {T_A: "A", T_CNAME: "CNAME", T_TXT: "TXT", T_AAAA: "AAAA"}
# Rule.rpz -> the CNAME target RPZ names that action with
TARGETS = {"nxdomain": ".", "nodata": "*.", "drop": "rpz-drop.", "tcp-only": "rpz-tcp-only.",
           "passthru": "rpz-passthru."}
DIGEST_MARK = "; digest "
INPUTS_MARK = "; inputs "  # what the records were computed from (see kept_zone), then "; records N"
# (deleted, added) record lines of a zone, where the writer knows them (feeds/rpz_plain.py)
Difference = tuple[list[str], list[str]]


class Publish(Protocol):
    """`[rpz] publish = "update"` (feeds/rpz_update.py): sends a zone's difference from the old
    file to the new body (`known`, or computed from the two); the records sent. Raises to keep
    the old file."""

    def __call__(self, zone: str, old: Path, body: Path, known: Difference | None = None) -> int: ...


@dataclass(frozen=True, slots=True)
class Soa:
    ttl: int = 60
    refresh: int = 600
    retry: int = 60
    expire: int = 1209600
    minimum: int = 60


@dataclass(frozen=True, slots=True)
class Action:
    """What a trigger does: an RPZ action ("nxdomain", "nodata", "drop", "tcp-only",
    "passthru"), or "local" with its records (type, rdata in wire form)."""

    kind: str
    data: tuple[tuple[int, bytes], ...] = ()

    def rdata(self) -> list[str]:
        """The record data lines (type and data) of this action."""
        if self.kind != "local":
            return [f"CNAME {TARGETS[self.kind]}"]
        return [f"{TYPE_NAMES[t]} {rdata_text(t, d)}" for t, d in self.data]


PASSTHRU = Action("passthru")
PROBE = "dnsfilter-rpz-probe"  # a child label no list holds: what a `*.name` trigger is checked with


def slug(name: str) -> str:
    """A profile's name as a DNS label."""
    import re

    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "profile"


def rdata_text(rtype: int, data: bytes) -> str:
    if rtype == T_A:
        return str(ipaddress.IPv4Address(data))
    if rtype == T_AAAA:
        return str(ipaddress.IPv6Address(data))
    if rtype == T_CNAME:
        return wire_text(data)
    if rtype == T_TXT:
        out, i = [], 0
        while i < len(data):
            n = data[i]
            chunk = data[i + 1 : i + 1 + n]
            out.append('"' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\{b:03d}"
                                     for b in chunk) + '"')
            i += 1 + n
        return " ".join(out)
    raise ValueError(f"no text form for type {rtype}")


def wire_text(name: bytes) -> str:
    """An absolute name's text, with its final dot."""
    labels, i = [], 0
    while name[i]:
        labels.append(name[i + 1 : i + 1 + name[i]].decode("ascii"))
        i += name[i] + 1
    return ".".join(labels) + "."


def ip_owner(network: str) -> str:
    """The rpz-ip trigger owner of a network (192.0.2.0/24 -> 24.0.2.0.192.rpz-ip, 2001:db8::/32
    -> 32.zz.db8.2001.rpz-ip: IPv6 groups reversed, the longest run of zero groups as zz)."""
    net = ipaddress.ip_network(network, strict=False)
    if net.version == 4:
        return f"{net.prefixlen}.{'.'.join(reversed(str(net.network_address).split('.')))}.rpz-ip"
    groups = net.network_address.exploded.split(":")
    best, at, run = 0, -1, 0
    for i, g in enumerate(groups + ["x"]):
        if g == "0000":
            run += 1
            continue
        if run > best:
            best, at = run, i - run
        run = 0
    labels = [format(int(g, 16), "x") for g in groups]
    if best > 1:
        labels = labels[:at] + ["zz"] + labels[at + best:]
    return f"{net.prefixlen}.{'.'.join(reversed(labels))}.rpz-ip"


def owners(name: str, scope: str) -> tuple[str, ...]:
    """The trigger owner names for a rule's scope: the name, `*.name`, or both."""
    return {"subtree": (name, "*." + name), "exact": (name,), "below": ("*." + name,)}[scope]


def read_head(path: Path) -> tuple[int, str] | None:
    """(serial, digest) of a zone file this module wrote, None otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            head = [f.readline() for _ in range(5)]
    except (OSError, UnicodeDecodeError):
        return None
    if not head[0].startswith("; dnsfilter") or DIGEST_MARK not in head[0]:
        return None
    digest = head[0].rsplit(DIGEST_MARK, 1)[1].strip()
    for line in head[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "SOA" and fields[4].isdigit():
            return int(fields[4]), digest
    return None


def stamp_of(path: Path) -> tuple[str, int] | None:
    """(inputs, records) a zone file this module wrote says it was computed from (kept_zone)."""
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
    except (OSError, UnicodeDecodeError):
        return None
    if not first.startswith("; dnsfilter") or INPUTS_MARK not in first:
        return None
    inputs, _, rest = first.rsplit(INPUTS_MARK, 1)[1].partition("; records ")
    records = rest.split(";", 1)[0]
    return (inputs, int(records)) if records.isdigit() else None


def kept_zone(path: Path, inputs: str) -> tuple[int, int] | None:
    """(serial, records) of a zone file this module wrote from exactly `inputs` (a digest of
    what its records are computed from: the lists' compiled sets and sources, the action, this
    code's version); None when it was not, or it is not ours. Such a file needs no export."""
    stamp = stamp_of(path)
    if not inputs or stamp is None or stamp[0] != inputs:
        return None
    head = read_head(path)
    return (head[0], stamp[1]) if head is not None else None


class ZoneWriter:
    """Records of one zone, streamed to a temporary body file; `close` writes `DIR/ZONE.zone`
    with its SOA and NS only if the records differ from the file already there. With `publish`,
    the difference to that file goes to the primary first (`updated`: the records sent); when it
    fails the file stays as it was and `error` says why."""

    def __init__(self, out_dir: Path, zone: str, about: str, soa: Soa, now: float,
                 publish: Publish | None = None, inputs: str = "") -> None:
        self.path = out_dir / f"{zone}.zone"
        self.inputs = inputs  # kept_zone's stamp, written into the head
        self.zone, self.about, self.soa, self.now, self.publish = zone, about, soa, now, publish
        self.updated: int | None = None  # None: not sent by UPDATE (unchanged, or a first file)
        self.error = ""
        self.body = self.path.with_name(self.path.name + ".body")
        self._f = open(self.body, "wb")  # closed in close()
        self.known: Difference | None = None  # the difference to the old file, where the filler knows it
        self._digest = hashlib.blake2b(digest_size=16)
        self.records = 0
        self.serial = 0
        self.changed = False

    def add(self, owner: str, action: Action) -> None:
        for rdata in action.rdata():
            line = f"{owner} {rdata}\n".encode()
            self._f.write(line)
            self._digest.update(line)
            self.records += 1

    def add_text(self, text: str, records: int) -> None:
        """`records` record lines at once, as `add` writes them (each ending in a newline)."""
        self.add_bytes(text.encode(), records)

    def add_bytes(self, data: bytes | memoryview, records: int) -> None:
        self._f.write(data)
        self._digest.update(data)
        self.records += records

    def close(self) -> None:
        self._f.close()
        try:
            digest = self._digest.hexdigest()
            old = read_head(self.path)
            if old is not None and old[1] == digest:
                self.serial = old[0]
                if self.inputs and kept_zone(self.path, self.inputs) is None:
                    self._write(digest)  # the same records from new inputs: the stamp only
                return
            if self.publish is not None and old is not None:
                try:
                    self.updated = self.publish(self.zone, self.path, self.body, self.known)
                except Exception as e:  # the primary has not taken it: the last good file stays
                    self.serial, self.error = old[0], str(e) or type(e).__name__
                    return
            self.serial = max((old[0] + 1) if old else 1, int(self.now)) & 0xFFFFFFFF
            self._write(digest)
            self.changed = True
        finally:
            self.body.unlink(missing_ok=True)

    def _write(self, digest: str) -> None:
        s = self.soa
        stamp = f"{INPUTS_MARK}{self.inputs}; records {self.records}" if self.inputs else ""
        head = (f"; dnsfilter rpz export: {self.zone} ({self.about}){stamp}{DIGEST_MARK}{digest}\n"
                f"$ORIGIN {self.zone}.\n$TTL {s.ttl}\n"
                f"@ SOA localhost. hostmaster.localhost. {self.serial} {s.refresh} {s.retry} {s.expire} "
                f"{s.minimum}\n@ NS localhost.\n")
        write_atomic(self.path, _parts(head, self.body))

    def abort(self) -> None:
        self._f.close()
        self.body.unlink(missing_ok=True)

    def __enter__(self) -> ZoneWriter:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if t is None:
            self.close()
        else:
            self.abort()


def _parts(head: str, body: Path) -> Iterator[bytes]:
    """The file's content as buffers: the head, then the body in 1 MB pieces."""
    yield head.encode()
    with open(body, "rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk


def empty_stale(out_dir: Path, keep: set[str], soa: Soa, now: float, publish: Publish | None = None,
                errors: list[str] | None = None) -> list[str]:
    """Zones an earlier export wrote that this one did not (a feed or category gone): emptied
    (SOA and NS only, a new serial), not deleted, so a server that still lists the zone serves
    no stale policy and still loads it."""
    emptied = []
    for p in sorted(out_dir.glob("*.zone")):
        zone = p.name[: -len(".zone")]
        if zone not in keep and read_head(p) is not None:
            w = ZoneWriter(out_dir, zone, "no longer exported", soa, now, publish)
            w.close()
            if w.error and errors is not None:
                errors.append(w.error)
            if w.changed:
                emptied.append(zone)
    return emptied
