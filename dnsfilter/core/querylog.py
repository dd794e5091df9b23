"""The query log's in-memory side: two bounded rings the resolver writes to (core/logring.py),
and the pure functions that turn their records into log rows and hourly rollups under each
profile's privacy mode. The shell (shell/querylog_writer.py) drains the rings into SQLite.

A record is (monotonic time, who asked, LogInfo), stored in place in a ring's preallocated
lists. Everything that describes an answer lives in the LogInfo tuple, which the fast path
builds once per prebuilt entry (at install time), so a replayed answer costs three stores.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter, itemgetter
from random import Random
from typing import Any, Final

from dnsfilter.core.dns.wire import wire_to_text
from dnsfilter.core.logring import CALM_TAKES, Ring, Span, Who, Whos
from dnsfilter.core.model import Reason

__all__ = ["CALM_TAKES"]  # re-exported: the rings' calm minute, for tests and docs

EXACT_COUNT = 16384  # beyond this many records of a ring in one drain, rollups are estimated (see batch)
# Records a ring keeps between drains (every 2 s) at most: 8k answers a second of each path.
# No larger: beyond EXACT_COUNT records a drain is counted from a sample anyway (see batch),
# so a bigger ring would only hold more memory (3 x 8 bytes a record, twice while a take's
# lists wait for the writer) for the same estimate; an overflow is estimated the same way.
RING_SIZE = EXACT_COUNT
RING_SMALL = 4096  # each ring while nothing floods it (96 KB of lists)
FLOOD_NAMES = 200  # blocked names counted per batch beyond its rows (see batch)
NAME_SAMPLE = 4096  # records of a flood whose names are counted (see batch)
COUNT_CHUNK = 2048  # records counted per C call: about half a millisecond holding the GIL

# Privacy modes of a profile, with the sentence the UI shows parents.
PRIVACY_MODES: dict[str, str] = {
    "full": "Every site looked up is recorded with the device that asked, so you can see who visited what.",
    "anonymous": "Sites looked up are recorded, but not which device or person asked.",
    "counts": "Only totals are kept (how many lookups and blocks per device each hour); no site names are recorded.",
    "off": "Nothing is recorded about this profile's devices.",
}
DEFAULT_PRIVACY = "full"


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

# A log row as stored: (unix time, device, ip, profile, name, qtype, outcome, kind, category, feed, service)
Row = tuple[float, str, str, str, str, int, str, str, str, str, str]
_SLOT_DEVICE = attrgetter("device")
_random = Random(0x5EED)  # which records of a flood have their names counted (see batch)
_ROLL = itemgetter(PROFILE, OUTCOME, CATEGORY, SERVICE, KIND)  # what a rollup row needs of an info
RollupKey = tuple[int, str, str, str, str]  # (unix hour, device, profile, category group, outcome)
NameKey = tuple[int, str, str]  # (unix hour, profile, blocked name)
SHAPES = 4096  # shared slow-ring descriptions kept (a home uses a few dozen)
_NO_INFO: LogInfo = ("", "", 0, "", "", "", "", "")  # never used: info() is None only for an "off" profile


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
        # keeps its reason, so an id is not reused while its entry lives
        self.shapes: dict[tuple[str, int, str, int], tuple[Reason | None, LogInfo]] = {}

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
        if hit is None or hit[0] is not reason:
            if len(self.shapes) >= SHAPES:
                self.shapes.clear()  # bounded: reasons made per answer (a CNAME's block) come and go
            hit = self.shapes[key] = (reason, self.info(profile, b"", qtype, outcome, reason) or _NO_INFO)
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


@dataclass
class Batch:
    """Records turned into what the store writes in one transaction."""

    rows: list[Row]
    rollup: Counter[RollupKey]
    names: Counter[NameKey]
    shed: int = 0  # records counted in the rollups but not written as rows (over max_rows)


def batch(records: Drained | list[Record], wall_offset: float, privacy: Mapping[str, str],
          hashed_feeds: frozenset[str] = frozenset(), max_rows: int | None = None,
          max_names: int = FLOOD_NAMES, pause: Callable[[], None] | None = None) -> Batch:
    """Apply each profile's privacy mode: full keeps everything; anonymous drops the device
    and address; counts keeps only the rollup (no names); off keeps nothing.

    Beyond `max_rows` records (a flood: a home sends tens of queries a second, not tens of
    thousands) the rest are only counted, per (device, answer), into the rollups of the last
    record's hour. Up to EXACT_COUNT records of a ring those counts are exact, counted in
    C-level chunks with `pause()` between them, so the thread running this hands the
    interpreter back to the event loop every half millisecond. Beyond that (tens of thousands
    a second) a random sample of NAME_SAMPLE records is counted and scaled to every answer it
    stands for, overwritten replays of an overflowed fast ring included: the writer's cost
    stays flat however hard the flood, and the totals are estimates within a few %, where an
    exact count of what was left would undercount an overflow by what it lost. Of the rest's
    blocked names only the `max_names` most frequent are counted, from such a sample too: a
    flood of distinct names would otherwise cost one dict entry and one upsert each, and "top
    blocked names" needs only the top."""
    d = records if isinstance(records, Drained) else Drained.of(records)
    rows: list[Row] = []
    rollup: Counter[RollupKey] = Counter()
    names: Counter[NameKey] = Counter()
    head = d.records(max_rows)
    text = _Texts()
    for r, (mono, ip, device, i) in enumerate(head):
        if pause is not None and r % 250 == 249:
            pause()
        profile, name, qtype, outcome, kind, category, feed, service = i
        mode = privacy.get(profile, DEFAULT_PRIVACY)
        if mode == "off":
            continue
        ts = mono + wall_offset
        hour = int(ts // 3600)
        if mode != "full":
            ip = ""
            if mode == "anonymous":
                device = ""
        rollup[(hour, device, profile, category or service or kind, outcome)] += 1
        if mode == "counts":
            continue
        # A defence in depth: the name was blanked at record time if the feed was known hashed.
        shown = "" if feed and feed in hashed_feeds else text(name) if isinstance(name, bytes) else name
        if shown and outcome == "blocked":
            names[(hour, profile, shown)] += 1
        rows.append((ts, device, ip, profile, shown, qtype, outcome, kind, category, feed, service))
    shed = len(d) - len(head)
    if shed:
        if pause is not None:
            pause()
        _count_rest(d, len(head), wall_offset, privacy, hashed_feeds, max_names, rollup, names, pause, text)
    return Batch(rows, rollup, names, shed)


class _Texts(dict[bytes, str]):
    """Wire names turned into text, once per name per batch (a page of rows repeats a few names)."""

    def __call__(self, name: bytes) -> str:
        t = self.get(name)
        if t is None:
            t = self[name] = wire_to_text(name)
        return t


def _part(span: Span, k: int, sel: slice | list[int], named: bool = True) -> tuple[list[str], list[LogInfo]]:
    """Devices and LogInfos of a span's records `sel` (a slice or indexes) from position k on,
    read in place; `named=False`: without their names (enough to count them)."""
    if isinstance(sel, slice):
        _t, whos, infos = span.part(k + sel.start, k + sel.stop, named)
    else:
        whos, infos = span.pick([k + j for j in sel], named)
    return list(map(_SLOT_DEVICE, whos)), infos


def _pairs(devices: list[str], infos: list[LogInfo]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(device, rollup fields) per record, for a Counter to count in C."""
    return zip(devices, map(_ROLL, infos), strict=True)


def _count_rest(d: Drained, skip: int, wall_offset: float, privacy: Mapping[str, str],
                hashed_feeds: frozenset[str], max_names: int, rollup: Counter[RollupKey],
                names: Counter[NameKey], pause: Callable[[], None] | None, text: _Texts) -> None:
    hour = int((d.last_time() + wall_offset) // 3600)  # the flood's rollups go to its last hour
    # the head (the rows) took the slow span's first records, then the fast span's
    k_slow = min(skip, len(d.slow))
    spans = ((d.slow, k_slow), (d.fast, skip - k_slow))
    counts: Counter[tuple[str, tuple[str, ...]]] = Counter()
    sampled: list[tuple[list[LogInfo], float]] = []  # infos whose names are counted, and the weight of each
    total = len(d) - skip
    for span, k in spans:
        size = len(span) - k
        # a span's rest stands for the answers an overflow overwrote too
        answers = max(size, span.replayed - k)
        part = partial(_part, span, k)
        if not size:
            continue
        if size <= EXACT_COUNT and answers == size:
            # counted by zip/map/itemgetter/Counter in C (about 0.2 µs a record), a chunk at a time
            for a in range(0, size, COUNT_CHUNK):
                counts.update(_pairs(*part(slice(a, a + COUNT_CHUNK), named=False)))
                if pause is not None:
                    pause()
            m = size if total <= NAME_SAMPLE else round(NAME_SAMPLE * size / total)
            if not m:
                continue
            infos = part(slice(0, size))[1] if m == size else part(_random.choices(range(size), k=m))[1]
        else:  # a flood: counted from a random sample (with replacement), scaled to its answers
            m = NAME_SAMPLE
            devices, infos = part(_random.choices(range(size), k=m))
            for key, n in Counter(_pairs(devices, infos)).items():
                counts[key] += round(n * answers / m)
        sampled.append((infos, answers / m))  # its names: from the same sample
        if pause is not None:
            pause()
    for (device, (profile, outcome, category, service, kind)), n in counts.items():
        mode = privacy.get(profile, DEFAULT_PRIVACY)
        if mode != "off":
            rollup[(hour, "" if mode == "anonymous" else device, profile, category or service or kind, outcome)] += n
    # (profile, name as recorded): only the names kept are turned into text, not every one sampled
    flood: Counter[tuple[str, str | bytes]] = Counter()
    for picked, weight in sampled:
        if pause is not None:
            pause()
        for i, n in Counter(picked).items():
            if i[OUTCOME] != "blocked" or not i[NAME] or (i[FEED] and i[FEED] in hashed_feeds):
                continue
            if privacy.get(i[PROFILE], DEFAULT_PRIVACY) in ("full", "anonymous"):
                flood[(i[PROFILE], i[NAME])] += round(n * weight)
    for (profile, name), n in (flood.most_common(max_names) if len(flood) > max_names else flood.items()):
        names[(hour, profile, text(name) if isinstance(name, bytes) else name)] += n


# ------------------------------------------------------------ metrics

def _esc(v: object) -> str:
    return str(v).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def metrics_text(status: Mapping[str, object]) -> str:
    """The daemon's status (`ctl status`, plus `answers`, `feed_ages`, `workers` and `querylog`
    when known) in the Prometheus text exposition format, for `/metrics`. Written by hand:
    it is a few lines of text, and the daemon needs no extra dependency for it."""
    out: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: Iterable[tuple[Mapping[str, object], Any]]) -> None:
        rows = [(labels, value) for labels, value in samples if value is not None]
        out.append(f"# HELP dnsfilter_{name} {help_}")
        out.append(f"# TYPE dnsfilter_{name} {kind}")
        for labels, value in rows:
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            out.append(f"dnsfilter_{name}{{{lab}}} {float(value):g}" if lab else f"dnsfilter_{name} {float(value):g}")

    def get(key: str, default: object = None) -> object:
        return status.get(key, default)

    answers = get("answers") or {}
    assert isinstance(answers, Mapping)
    metric("answers_total", "counter", "Answers sent, by outcome, fast path included (from the query log).",
           (({"outcome": k}, v) for k, v in sorted(answers.items())))
    outcomes = get("outcomes") or {}
    assert isinstance(outcomes, Mapping)
    metric("engine_answers_total", "counter", "Answers decided by the resolver engine (the slow path), by outcome.",
           (({"outcome": k}, v) for k, v in sorted(outcomes.items())))
    for key, help_ in (("dropped", "Packets dropped unanswered."), ("ratelimited", "Queries over the rate limit."),
                       ("prefetches", "Cache entries refreshed before expiry."), ("reloads", "Config reloads.")):
        metric(f"{key}_total", "counter", help_, [({}, get(key))])
    cache = get("cache") or {}
    assert isinstance(cache, Mapping)
    metric("cache_hits_total", "counter", "Cache hits in the engine.", [({}, cache.get("hits"))])
    metric("cache_misses_total", "counter", "Cache misses in the engine.", [({}, cache.get("misses"))])
    metric("cache_entries", "gauge", "Answers in the cache.", [({}, cache.get("entries"))])
    fast = get("fastpath") or {}
    assert isinstance(fast, Mapping)
    metric("fastpath_entries", "gauge", "Prebuilt answers in the UDP fast path.", [({}, fast.get("entries"))])
    metric("inflight", "gauge", "Upstream questions in flight.", [({}, get("inflight"))])
    metric("scrubbed_total", "counter", "Upstream answers that carried records not answering the question (dropped).",
           [({}, get("scrubbed"))])
    tcp = get("tcp") or {}
    assert isinstance(tcp, Mapping)
    metric("tcp_connections", "gauge", "Open DNS-over-TCP client connections.", [({}, tcp.get("connections"))])
    metric("tcp_evicted_total", "counter", "Idle TCP connections closed to admit a new client at the limit.",
           [({}, tcp.get("evicted"))])
    metric("tcp_refused_total", "counter", "TCP connections closed at once: at the limit with none idle.",
           [({}, tcp.get("refused"))])
    metric("uptime_seconds", "gauge", "Seconds since the daemon started.", [({}, get("uptime"))])
    metric("workers", "gauge", "DNS worker processes.", [({}, get("workers"))])
    ups = get("upstreams") or []
    assert isinstance(ups, list)
    metric("upstream_latency_seconds", "gauge", "Smoothed answer time of each upstream.",
           [({"upstream": u["text"]}, None if u.get("latency_ms") is None else u["latency_ms"] / 1000) for u in ups])
    metric("upstream_queries_total", "counter", "Queries sent to each upstream.",
           [({"upstream": u["text"]}, u.get("queries")) for u in ups])
    metric("upstream_errors_total", "counter", "Failed queries to each upstream.",
           [({"upstream": u["text"]}, u.get("failures")) for u in ups])
    metric("upstream_healthy", "gauge", "1 when the upstream's last query succeeded.",
           [({"upstream": u["text"]}, 1 if u.get("healthy") else 0) for u in ups])
    feeds = get("feeds") or {}
    ages = get("feed_ages") or {}
    assert isinstance(feeds, Mapping) and isinstance(ages, Mapping)
    metric("feed_names", "gauge", "Names in each compiled feed in force.", (({"feed": k}, v) for k, v in sorted(feeds.items())))
    metric("feed_age_seconds", "gauge", "Seconds since each feed was last compiled.",
           (({"feed": k}, v) for k, v in sorted(ages.items())))
    xfr = get("feed_xfr") or {}
    assert isinstance(xfr, Mapping)
    metric("feed_serial", "gauge", "SOA serial of the version in force of each feed followed by zone transfer.",
           (({"feed": k}, v.get("serial")) for k, v in sorted(xfr.items())))
    metric("feed_stale", "gauge", "1 when a zone-transfer feed's primary has not answered for longer than the "
           "zone's SOA expire (its last good version stays in force).",
           (({"feed": k}, 1 if v.get("stale") else 0) for k, v in sorted(xfr.items())))
    notify = get("notify") or {}
    assert isinstance(notify, Mapping)
    metric("notify_total", "counter", "NOTIFY messages received, by result (accepted, unknown_zone, "
           "wrong_source, bad_tsig, malformed).", (({"result": k}, v) for k, v in sorted(notify.items())))
    ql = get("querylog") or {}
    assert isinstance(ql, Mapping)
    metric("querylog_rows_written_total", "counter", "Query log rows written to disk.", [({}, ql.get("written"))])
    metric("querylog_overflows_total", "counter", "Ring drains that found records lost (ring full).",
           [({}, ql.get("lost"))])
    metric("querylog_rows_shed_total", "counter", "Answers only counted in the rollups during floods.",
           [({}, ql.get("shed"))])
    return "\n".join(out) + "\n"
