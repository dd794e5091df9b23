"""The query log's in-memory side, as the resolver writes it: two bounded rings
(core/logring.py), and what the resolver needs to fill them. The shell
(shell/querylog_writer.py) drains the rings and turns their records into log rows and hourly
rollups under each profile's privacy mode (core/logbatch.py) in its own thread.

A record is (monotonic time, who asked, LogInfo), stored in place in a ring's preallocated
lists. Everything that describes an answer lives in the LogInfo tuple, which the fast path
builds once per prebuilt entry (at install time), so a replayed answer costs three stores.
This module is on the query path and compiled with it (make native); the writer's side is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from dnsfilter.core.logring import CALM_TAKES, Ring, Span, Who, Whos
from dnsfilter.core.model import Reason

__all__ = ["CALM_TAKES"]  # re-exported: the rings' calm minute, for tests and docs

EXACT_COUNT: Final = 16384  # beyond this many records of a ring in one drain, rollups are estimated (logbatch.batch)
# Records a ring keeps between drains (every 2 s) at most: 8k answers a second of each path.
# No larger: beyond EXACT_COUNT records a drain is counted from a sample anyway (see batch),
# so a bigger ring would only hold more memory (3 x 8 bytes a record, twice while a take's
# lists wait for the writer) for the same estimate; an overflow is estimated the same way.
RING_SIZE: Final = EXACT_COUNT
RING_SMALL: Final = 4096  # each ring while nothing floods it (96 KB of lists)
FLOOD_NAMES: Final = 200  # blocked names counted per batch beyond its rows (logbatch.batch)
NAME_SAMPLE: Final = 4096  # records of a flood whose names are counted (logbatch.batch)
COUNT_CHUNK: Final = 2048  # records counted per C call: about half a millisecond holding the GIL

# Privacy modes of a profile, with the sentence the UI shows parents.
PRIVACY_MODES: Final[dict[str, str]] = {
    "full": "Every site looked up is recorded with the device that asked, so you can see who visited what.",
    "anonymous": "Sites looked up are recorded, but not which device or person asked.",
    "counts": "Only totals are kept (how many lookups and blocks per device each hour); no site names are recorded.",
    "off": "Nothing is recorded about this profile's devices.",
}
DEFAULT_PRIVACY: Final = "full"


# What a log row says about one answer apart from who asked and when:
#   (profile, name, qtype, outcome, kind, category, feed, service)
# `name` is the question's name in wire form as the resolver read it (bytes): the writer's
# thread turns it into text (`batch`), so a first sight on the event loop spends no time on it
# and a prebuilt entry holds the parsed question's own bytes instead of a second string. Text
# (str) is accepted too (tests, tools). `name` is "" when a hashed (sha256) feed decided the
# answer: such names are never written in clear anywhere, only the feed id. A plain tuple of
# str/bytes/int rather than a class on purpose: the garbage collector stops tracking such
# tuples after one pass, so the prebuilt fast-path entries holding one, and the ring's records,
# never lengthen the collections that run while the UDP loop is busy (a class instance kept
# every entry tracked: a 20 % loss under load).
LogInfo = tuple[str, str | bytes, int, str, str, str, str, str]
# Final: literal indexes, so a type checker knows which field `info[NAME]` is
PROFILE: Final = 0
NAME: Final = 1
QTYPE: Final = 2
OUTCOME: Final = 3
KIND: Final = 4
CATEGORY: Final = 5
FEED: Final = 6
SERVICE: Final = 7


def log_info(profile: str, name: str | bytes, qtype: int, outcome: str, kind: str = "", category: str = "",
             feed: str = "", service: str = "") -> LogInfo:
    return (profile, name, qtype, outcome, kind, category, feed, service)


Record = tuple[float, str, str, LogInfo]  # (monotonic time, client ip, device, info)

SHAPES: Final = 4096  # shared slow-ring descriptions kept (a home uses a few dozen)
_NO_INFO: Final[LogInfo] = ("", "", 0, "", "", "", "", "")  # never used: info() is None only for an "off" profile


def _join(shapes: list[LogInfo], names: list[str | bytes]) -> list[LogInfo]:
    """The slow ring's records' own LogInfos: each shared description with its record's name."""
    return [(i[0], n, i[2], i[3], i[4], i[5], i[6], i[7]) for i, n in zip(shapes, names, strict=True)]


class QueryLog(Ring):
    """The rings and what the resolver needs to fill them: which profiles are not logged at
    all (privacy "off") and which feeds are hashed. The shell refreshes both on reload.

    The QueryLog is itself the fast ring: fast-path replays are written in place by the UDP
    loop (`times[j], slots[j], infos[j]` with `j = pos & mask`), holding references to objects
    that exist anyway (the batch's clock reading, the client's Slot, the entry's LogInfo).
    Slow-path answers go to `slow`, a ring of the same kind, through `record` (the client's
    Who in place of a Slot). Both start at `small` records, take `size` after a take finds
    them more than half full, and go back to `small` after a calm minute: a router keeps
    2 x 96 KB of lists, a burst gets the full rings (whose overflow, if any, is estimated)."""

    def __init__(self, size: int = RING_SIZE, small: int | None = None) -> None:
        super().__init__(size, small)
        self.slow = Ring(size, small, join=_join)
        self.whos = Whos()
        self.off: frozenset[str] = frozenset()
        self.hashed_feeds: frozenset[str] = frozenset()
        # the slow ring's shared infos (no name), by (profile, qtype, outcome, id(reason)); each
        # keeps its reason, so an id is not reused while its entry lives. Any, not LogInfo: compiled
        # (make native), a LogInfo read out is unboxed, and the ring would get a new tuple per answer
        self.shapes: dict[tuple[str, int, str, int], tuple[Reason | None, Any]] = {}

    def info(self, profile: str, qname: bytes, qtype: int, outcome: str, reason: Reason | None) -> LogInfo | None:
        """The description of an answer, or None when its profile logs nothing."""
        if profile in self.off:
            return None
        if reason is None:
            return (profile, qname, qtype, outcome, "", "", "", "")
        feed = reason.feed or ""
        name = "" if feed and feed in self.hashed_feeds else qname
        return (profile, name, qtype, outcome, reason.kind or "", reason.category or "", feed, reason.service or "")

    def bound(self, size: int) -> None:
        """Both rings' bound (`[storage] log_ring`, a power of two; see Ring.resize)."""
        Ring.resize(self, size, min(RING_SMALL, size))
        self.slow.resize(size, min(RING_SMALL, size))

    def answer(self, now: float, ip: str, device: str, profile: str, qname: bytes, qtype: int, outcome: str,
               reason: Reason | None) -> LogInfo | None:
        """Record one slow-path answer; returns its description (for a fast-path entry), or None
        when its profile logs nothing. The ring keeps a shared description and the name, not
        this answer's own LogInfo: a burst of new names then leaves about 110 bytes less per
        answer waiting for the writer among the tables' entries (see logring.Ring's `join`)."""
        if profile in self.off:
            return None
        key = (profile, qtype, outcome, id(reason))
        hit = self.shapes.get(key)
        shape: Any
        if hit is None or hit[0] is not reason:
            if len(self.shapes) >= SHAPES:
                self.shapes.clear()  # bounded: reasons made per answer (a CNAME's block) come and go
            shape = self.info(profile, b"", qtype, outcome, reason) or _NO_INFO  # boxed once, here
            self.shapes[key] = (reason, shape)
        else:
            shape = hit[1]
        feed = shape[FEED]
        name = "" if feed and feed in self.hashed_feeds else qname
        self.slow.put(now, self.whos(ip, device), shape, name)
        return (profile, name, qtype, outcome, shape[KIND], shape[CATEGORY], feed, shape[SERVICE])

    def record(self, now: float, ip: str, device: str, info: LogInfo | None) -> None:
        """Record a described answer in the slow ring (tools and tests; the engine uses `answer`)."""
        if info is not None:
            self.slow.put(now, self.whos(ip, device), info, info[NAME])

    def take(self) -> Drained:
        """Everything recorded since the last take, in both rings (see Ring.take_span). Called on the
        event loop; turning the records into tuples is left to the writer's thread, and only
        for the rows it writes."""
        return Drained(self.slow.take_span(), self.take_span())

    def drain(self) -> tuple[list[Record], bool]:
        """`take` as record tuples, and whether a ring overflowed (the oldest were lost)."""
        d = self.take()
        return d.records(), d.full


@dataclass(slots=True)
class Drained:
    """What one take found in the rings: the slow ring's span, then the fast ring's, each in
    the order answered. The fast span's fields are also offered as the Drained's own (the
    writer's tests and tools read them)."""

    slow: Span
    fast: Span = field(default_factory=lambda: Span([], [], []))

    @classmethod
    def of(cls, records: Iterable[Record]) -> Drained:
        t: list[float] = []
        who: list[Any] = []
        inf: list[Any] = []
        for r in records:
            t.append(r[0])
            who.append(Who(r[1], r[2]))
            inf.append(r[3])
        return cls(Span(t, who, inf))

    def __len__(self) -> int:
        return len(self.slow) + len(self.fast)

    @property
    def full(self) -> bool:
        """A ring overflowed: its oldest records were overwritten (and are estimated)."""
        return self.slow.full or self.fast.full

    @property
    def replayed(self) -> int:
        return self.fast.replayed

    @property
    def whole(self) -> tuple[int, int] | None:
        return self.fast.whole

    @property
    def times(self) -> list[float]:
        return self.fast.times

    @property
    def slots(self) -> list[Any]:
        return self.fast.slots

    @property
    def infos(self) -> list[Any]:
        return self.fast.infos

    def fast_len(self) -> int:
        return len(self.fast)

    def fast_span(self, lo: int, hi: int) -> tuple[list[float], list[Any], list[LogInfo]]:
        """Copies of the fast ring's records lo..hi (positions in answer order)."""
        return self.fast.part(lo, hi)

    def fast_pick(self, js: Iterable[int]) -> tuple[list[Any], list[LogInfo]]:
        return self.fast.pick(js)

    def last_time(self) -> float:
        return max(self.slow.last_time(), self.fast.last_time())

    def release(self) -> None:
        """Done with the records: the rings' own lists go back to their spares."""
        self.slow.release()
        self.fast.release()

    def records(self, limit: int | None = None) -> list[Record]:
        """The first `limit` records (all when None) as tuples: the slow ring's, then the fast's."""
        out = self.slow.records(len(self.slow) if limit is None else limit)
        out += self.fast.records(len(self.fast) if limit is None else max(0, limit - len(out)))
        return out
