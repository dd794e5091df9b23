"""`[rpz] publish = "update"`: a changed zone's differences sent to its primary as DNS UPDATE
(RFC 2136), signed with `[rpz] update_key` (TSIG, RFC 8945), before its file is replaced.

Why: with `publish = "reload"` the primary re-reads and diffs every record of a zone for a
change of a few (Knot's `zonefile-load: difference-no-serial`: seconds for a 1M-name zone).
An UPDATE carries only the difference; the primary applies it at once, keeps it in its journal
for IXFR, bumps the serial and sends NOTIFY.

The difference is between the zone file of the last publish (`ZONE.zone`, ours: its body
lines are `owner TYPE data`) and the records just exported. The file is replaced only after
the primary accepted every message, so a refused or failed UPDATE leaves the last good file
and the next publish sends the same difference again (deleting a record that is gone, or
adding one that is there, changes nothing: RFC 2136 3.4.2). Up to MAX_RECORDS records go in
one message, applied atomically; a larger change goes in several, sent at once (the primary
applies those it has queued together: Knot makes one version of them, where one after another
cost it a pass over the whole zone each).

dnspython (the field's library for UPDATE and TSIG) is imported here only: `rpz publish`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dns.exception
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update

from dnsfilter.config import Config
from feeds.rpz_zone import Difference
from feeds.xfr import _why

MAX_RECORDS = 1000  # per UPDATE message: well under 64 KB with the longest local data we write
SENDERS = 16  # messages in flight at once
TIMEOUT = 30.0


class UpdateFailed(Exception):
    """The primary did not take the difference (one line, never the key's secret)."""


def body_lines(path: Path) -> list[str]:
    """The record lines of a zone file this package wrote: its head (the digest comment,
    $ORIGIN, $TTL, the SOA and NS at the apex) left out."""
    return [line.decode() for line in _records(path)]


def _records(path: Path) -> list[bytes]:
    # One read and one split: a million-name zone is 2M lines, and a loop over a text file's
    # lines cost more than the rest of the difference.
    return [line for line in path.read_bytes().split(b"\n") if line and line[:1] not in b";$@"]


def difference(old: Path, body: Path) -> tuple[list[str], list[str]]:
    """(deleted, added) record lines from the zone file `old` to the records in `body`:
    deleted sorted, added in the order of `body`, each once."""
    was, now = _records(old), _records(body)
    had, has = set(was), set(now)
    deleted = sorted(line.decode() for line in had.difference(has))
    added = [line.decode() for line in dict.fromkeys(now) if line not in had]
    return deleted, added


class Updater:
    """Sends zones' differences to `[rpz] update_server`; `__call__` is ZoneWriter's hook."""

    def __init__(self, cfg: Config, ttl: int) -> None:
        where = cfg.rpz.update_server
        assert where is not None
        self.host, self.port, self.ttl = where.host, where.port, ttl
        self.key: dns.tsig.Key | None = None
        if cfg.rpz.update_key is not None:
            k = cfg.rpz.update_key
            try:
                self.key = dns.tsig.Key(k.name, cfg.secret_of(k), k.algorithm)
            except ValueError as e:
                raise UpdateFailed(str(e)) from None
        self.sent = 0  # records sent, all zones
        self._rdata: dict[tuple[str, str], dns.rdata.Rdata] = {}

    def __call__(self, zone: str, old: Path, body: Path, known: Difference | None = None) -> int:
        """Send the difference of `zone` (`known`, or from `old` to `body`); the number of
        records it held. Raises UpdateFailed."""
        deleted, added = known if known is not None else difference(old, body)
        origin = dns.name.from_text(zone)
        changes = [(False, line) for line in deleted] + [(True, line) for line in added]
        # The messages go at once, each on its own connection: the primary applies the ones
        # queued together in one go (Knot: one new version of the zone, where one message
        # after another cost it a pass over the whole zone each, ~1 s at a million names).
        with ThreadPoolExecutor(max_workers=SENDERS) as pool:
            sent = [pool.submit(self._send, origin, self._message(origin, changes[i : i + MAX_RECORDS]))
                    for i in range(0, len(changes), MAX_RECORDS)]
        for f in sent:
            f.result()  # the first failure, if any (the file stays; what was taken is taken again next time)
        self.sent += len(changes)
        return len(changes)

    def _message(self, origin: dns.name.Name, changes: list[tuple[bool, str]]) -> dns.update.UpdateMessage:
        msg = dns.update.UpdateMessage(origin, keyring=None)
        if self.key is not None:
            msg.use_tsig(self.key)
        for add, line in changes:
            owner, rtype, data = line.split(" ", 2)
            try:
                name = dns.name.from_text(owner, origin)
                rd = self._rdata.get((rtype, data))
                if rd is None:  # most records of a zone share one action: parsed once
                    rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), data, origin)
                    self._rdata[(rtype, data)] = rd
            except dns.exception.DNSException as e:
                raise UpdateFailed(f"{origin}: cannot send the record {line!r}: {e}") from None
            if add:
                msg.add(name, self.ttl, rd)
            else:
                msg.delete(name, rd)
        return msg

    def _send(self, origin: dns.name.Name, msg: dns.update.UpdateMessage) -> None:
        shown = f"{self.host}:{self.port}" if ":" not in self.host else f"[{self.host}]:{self.port}"
        try:
            r = dns.query.tcp(msg, self.host, port=self.port, timeout=TIMEOUT)
        except Exception as e:  # a timeout, a refused connection, a bad signature: the file stays
            raise UpdateFailed(f"UPDATE of {origin} to {shown} failed: {_why(e)}") from None
        if r.rcode() != dns.rcode.NOERROR:
            raise UpdateFailed(f"UPDATE of {origin} to {shown}: the primary answered {dns.rcode.to_text(r.rcode())}"
                               + (" (is update_key set, and allowed to update by the primary's ACL?)"
                                  if r.rcode() in (dns.rcode.REFUSED, dns.rcode.NOTAUTH) else ""))
