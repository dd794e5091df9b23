"""The query log's in-memory side: a bounded ring the resolver appends to, and the pure
functions that turn its records into log rows and hourly rollups under each profile's
privacy mode. The shell (shell/querylog_writer.py) drains the ring into SQLite.

A record is a 4-tuple (monotonic time, client ip, device, LogInfo). Everything that
describes an answer lives in the LogInfo tuple, which the fast path builds once per prebuilt
entry (at install time), so a replayed answer costs one tuple and one deque append.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from random import Random
from typing import Any

from dnsfilter.core.wire import wire_to_text
from dnsfilter.model import Reason

RING_SIZE = 65536  # records kept between drains (a few seconds at 10k queries/s)
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
# `name` is "" when a hashed (sha256) feed decided the answer: such names are never written in
# clear anywhere, only the feed id. A plain tuple of str/int rather than a class on purpose:
# the garbage collector stops tracking such tuples after one pass, so the prebuilt fast-path
# entries holding one, and the ring's records, never lengthen the collections that run while
# the UDP loop is busy (a class instance kept every entry tracked: a 20 % loss under load).
LogInfo = tuple[str, str, int, str, str, str, str, str]
PROFILE, NAME, QTYPE, OUTCOME, KIND, CATEGORY, FEED, SERVICE = range(8)


def log_info(profile: str, name: str, qtype: int, outcome: str, kind: str = "", category: str = "",
             feed: str = "", service: str = "") -> LogInfo:
    return (profile, name, qtype, outcome, kind, category, feed, service)


Record = tuple[float, str, str, LogInfo]  # (monotonic time, client ip, device, info)

# A log row as stored: (unix time, device, ip, profile, name, qtype, outcome, kind, category, feed, service)
Row = tuple[float, str, str, str, str, int, str, str, str, str, str]
_DEVICE, _INFO = itemgetter(2), itemgetter(3)
_SLOT_DEVICE = attrgetter("device")
_random = Random(0x5EED)  # which records of a flood have their names counted (see batch)
_ROLL = itemgetter(PROFILE, OUTCOME, CATEGORY, SERVICE, KIND)  # what a rollup row needs of an info
RollupKey = tuple[int, str, str, str, str]  # (unix hour, device, profile, category group, outcome)
NameKey = tuple[int, str, str]  # (unix hour, profile, blocked name)


class QueryLog:
    """The rings and what the resolver needs to fill them: which profiles are not logged at
    all (privacy "off") and which feeds are hashed. The shell refreshes both on reload.

    Slow-path answers go to `ring`, a deque of records. Fast-path replays go to three
    preallocated lists written in place by the UDP loop (`times[j], slots[j], infos[j]` with
    `j = pos & mask`): they only hold references to objects that exist anyway (the batch's
    clock reading, the client's Slot, the entry's LogInfo), so a replay allocates nothing and
    the ring's memory stays small and warm. A deque of fresh tuples cost about 20 % of the
    fast path's throughput under load (cold allocations, collector passes)."""

    def __init__(self, size: int = RING_SIZE) -> None:
        assert size & (size - 1) == 0, "the fast ring's size is a power of two"
        self.ring: deque[Record] = deque(maxlen=size)
        self.off: frozenset[str] = frozenset()
        self.hashed_feeds: frozenset[str] = frozenset()
        self.mask = size - 1
        self.times: list[float] = [0.0] * size
        self.slots: list[Any] = [None] * size  # fastpath.Slot: .ip and .device
        self.infos: list[LogInfo | None] = [None] * size
        self.pos = 0  # fast-path records ever written; the UDP loop keeps a local copy per batch
        self.drained = 0

    def info(self, profile: str, qname: bytes, qtype: int, outcome: str, reason: Reason | None) -> LogInfo | None:
        """The description of an answer, or None when its profile logs nothing."""
        if profile in self.off:
            return None
        if reason is None:
            return (profile, wire_to_text(qname), qtype, outcome, "", "", "", "")
        feed = reason.feed or ""
        name = "" if feed and feed in self.hashed_feeds else wire_to_text(qname)
        return (profile, name, qtype, outcome, reason.kind or "", reason.category or "", feed, reason.service or "")

    def record(self, now: float, ip: str, device: str, info: LogInfo | None) -> None:
        if info is not None:
            self.ring.append((now, ip, device, info))

    def take(self) -> Drained:
        """Everything recorded since the last take. Called on the event loop (the rings are
        not shared with threads), so it only copies references: the slow ring is swapped for
        an empty one and the fast ring's new span is sliced out of its three lists. Turning
        a flood's 65k replays into record tuples here stalled the loop for tens of ms; the
        writer's thread does it now, and only for the rows it writes."""
        slow, full = self.ring, len(self.ring) == self.ring.maxlen
        self.ring = deque(maxlen=self.ring.maxlen)
        pos, start, size = self.pos, self.drained, self.mask + 1
        if pos - start > size:
            full, start = True, pos - size
        self.drained = pos
        t: list[float] = []
        sl: list[Any] = []
        inf: list[Any] = []
        if pos > start:
            a, b = start & self.mask, pos & self.mask
            if a < b:
                t, sl, inf = self.times[a:b], self.slots[a:b], self.infos[a:b]
            else:  # wrapped (or exactly one full turn: a == b)
                t = self.times[a:] + self.times[:b]
                sl = self.slots[a:] + self.slots[:b]
                inf = self.infos[a:] + self.infos[:b]
        return Drained(slow, t, sl, inf, full)

    def drain(self) -> tuple[list[Record], bool]:
        """`take` as record tuples, and whether a ring overflowed (the oldest were lost)."""
        d = self.take()
        return d.records(), d.full


@dataclass(slots=True)
class Drained:
    """What one take found in the rings: the slow ring's records, then the fast ring's span
    as three parallel lists (time, Slot, LogInfo), in the order they were answered within
    each ring."""

    slow: deque[Record] | list[Record]
    times: list[float]
    slots: list[Any]
    infos: list[LogInfo]
    full: bool = False

    @classmethod
    def of(cls, records: Iterable[Record]) -> Drained:
        return cls(list(records), [], [], [])

    def __len__(self) -> int:
        return len(self.slow) + len(self.infos)

    def _slow(self) -> list[Record]:
        if not isinstance(self.slow, list):  # the swapped-out deque, listed in the writer's thread
            self.slow = list(self.slow)
        return self.slow

    def records(self, limit: int | None = None) -> list[Record]:
        """The first `limit` records (all when None) as tuples."""
        slow = self._slow()
        out = list(slow) if limit is None else slow[:limit]
        k = len(self.infos) if limit is None else max(0, min(len(self.infos), limit - len(out)))
        out += [(t, s.ip, s.device, i) for t, s, i in zip(self.times[:k], self.slots[:k], self.infos[:k], strict=True)]
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
    record's hour: those counts stay exact while the writer's cost stays bounded. Of the rest's
    blocked names only the `max_names` most frequent are counted, from a sample of at most
    NAME_SAMPLE records (1 in k, each counted k times): a flood of distinct names would
    otherwise cost one dict entry and one upsert each, and "top blocked names" needs only the
    top. The rest is counted in C-level chunks with `pause()` between them, so the thread
    running this hands the interpreter back to the event loop every millisecond or so."""
    d = records if isinstance(records, Drained) else Drained.of(records)
    rows: list[Row] = []
    rollup: Counter[RollupKey] = Counter()
    names: Counter[NameKey] = Counter()
    head = d.records(max_rows)
    for mono, ip, device, i in head:
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
        if feed and feed in hashed_feeds:
            name = ""
        if name and outcome == "blocked":
            names[(hour, profile, name)] += 1
        rows.append((ts, device, ip, profile, name, qtype, outcome, kind, category, feed, service))
    shed = len(d) - len(head)
    if shed:
        if pause is not None:
            pause()
        _count_rest(d, len(head), wall_offset, privacy, hashed_feeds, max_names, rollup, names, pause)
    return Batch(rows, rollup, names, shed)


def _count_rest(d: Drained, skip: int, wall_offset: float, privacy: Mapping[str, str],
                hashed_feeds: frozenset[str], max_names: int, rollup: Counter[RollupKey],
                names: Counter[NameKey], pause: Callable[[], None] | None) -> None:
    slow = d._slow()
    last = max(d.times[-1] if d.times else 0.0, slow[-1][0] if slow else 0.0)
    hour = int((last + wall_offset) // 3600)  # the flood's rollups go to its last hour
    slow, k = slow[skip:], max(0, skip - len(slow))
    # (device, rollup fields) per record, counted by zip/map/itemgetter/Counter in C, a chunk
    # at a time (about 0.2 µs a record)
    counts: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for a in range(0, len(slow), COUNT_CHUNK):
        part = slow[a:a + COUNT_CHUNK]
        counts.update(zip(map(_DEVICE, part), map(_ROLL, map(_INFO, part)), strict=True))
        if pause is not None:
            pause()
    for a in range(k, len(d.infos), COUNT_CHUNK):
        counts.update(zip(map(_SLOT_DEVICE, d.slots[a:a + COUNT_CHUNK]), map(_ROLL, d.infos[a:a + COUNT_CHUNK]),
                          strict=True))
        if pause is not None:
            pause()
    for (device, (profile, outcome, category, service, kind)), n in counts.items():
        mode = privacy.get(profile, DEFAULT_PRIVACY)
        if mode != "off":
            rollup[(hour, "" if mode == "anonymous" else device, profile, category or service or kind, outcome)] += n
    flood: Counter[NameKey] = Counter()
    rest = len(slow) + len(d.infos) - k
    for part in (slow, d.infos[k:] if k else d.infos):
        # a random sample, not a stride: a stride aliases with periodic traffic
        m = len(part) if rest <= NAME_SAMPLE else round(NAME_SAMPLE * len(part) / rest)
        if not m:
            continue
        picked = part if m == len(part) else [part[j] for j in _random.sample(range(len(part)), m)]
        weight = len(part) / m
        for i, n in Counter(map(_INFO, picked) if part is slow else picked).items():
            if i[OUTCOME] != "blocked" or not i[NAME] or (i[FEED] and i[FEED] in hashed_feeds):
                continue
            if privacy.get(i[PROFILE], DEFAULT_PRIVACY) in ("full", "anonymous"):
                flood[(hour, i[PROFILE], i[NAME])] += round(n * weight)
    for key, n in (flood.most_common(max_names) if len(flood) > max_names else flood.items()):
        names[key] += n


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
    ql = get("querylog") or {}
    assert isinstance(ql, Mapping)
    metric("querylog_rows_written_total", "counter", "Query log rows written to disk.", [({}, ql.get("written"))])
    metric("querylog_overflows_total", "counter", "Ring drains that found records lost (ring full).",
           [({}, ql.get("lost"))])
    metric("querylog_rows_shed_total", "counter", "Answers only counted in the rollups during floods.",
           [({}, ql.get("shed"))])
    return "\n".join(out) + "\n"
