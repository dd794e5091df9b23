"""The query log's in-memory side: a bounded ring the resolver appends to, and the pure
functions that turn its records into log rows and hourly rollups under each profile's
privacy mode. The shell (shell/querylog_writer.py) drains the ring into SQLite.

A record is a 4-tuple (monotonic time, client ip, device, LogInfo). Everything that
describes an answer lives in the LogInfo tuple, which the fast path builds once per prebuilt
entry (at install time), so a replayed answer costs one tuple and one deque append.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from dnsfilter.core.wire import wire_to_text
from dnsfilter.model import Reason

RING_SIZE = 65536  # records kept between drains (a few seconds at 10k queries/s)
FLOOD_NAMES = 200  # blocked names counted per batch beyond its rows (see batch)

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


def group(i: LogInfo) -> str:
    """The rollup's category column: a feed category, else the service, else the rule kind."""
    return i[5] or i[7] or i[4]  # category, service, kind (literal indexes keep the types exact)


Record = tuple[float, str, str, LogInfo]  # (monotonic time, client ip, device, info)

# A log row as stored: (unix time, device, ip, profile, name, qtype, outcome, kind, category, feed, service)
Row = tuple[float, str, str, str, str, int, str, str, str, str, str]
_DEVICE, _INFO = itemgetter(2), itemgetter(3)
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

    def drain(self) -> tuple[list[Record], bool]:
        """Everything recorded since the last drain, and whether a ring overflowed (the
        oldest records were lost). Called on the event loop: the rings are not shared with threads."""
        full = len(self.ring) == self.ring.maxlen
        out = list(self.ring)
        self.ring.clear()
        pos, start, size = self.pos, self.drained, self.mask + 1
        if pos - start > size:
            full, start = True, pos - size
        self.drained = pos
        if pos > start:
            a, b = start & self.mask, pos & self.mask
            if a < b:
                t, sl, inf = self.times[a:b], self.slots[a:b], self.infos[a:b]
            else:  # wrapped (or exactly one full turn: a == b)
                t = self.times[a:] + self.times[:b]
                sl = self.slots[a:] + self.slots[:b]
                inf = self.infos[a:] + self.infos[:b]
            out += [(when, slot.ip, slot.device, i) for when, slot, i in zip(t, sl, inf, strict=True)]
        return out, full


@dataclass
class Batch:
    """Records turned into what the store writes in one transaction."""

    rows: list[Row]
    rollup: Counter[RollupKey]
    names: Counter[NameKey]
    shed: int = 0  # records counted in the rollups but not written as rows (over max_rows)


def batch(records: list[Record], wall_offset: float, privacy: Mapping[str, str],
          hashed_feeds: frozenset[str] = frozenset(), max_rows: int | None = None,
          max_names: int = FLOOD_NAMES) -> Batch:
    """Apply each profile's privacy mode: full keeps everything; anonymous drops the device
    and address; counts keeps only the rollup (no names); off keeps nothing.

    Beyond `max_rows` records (a flood: a home sends tens of queries a second, not tens of
    thousands) the rest are only counted, per (device, answer), into the rollups of the last
    record's hour: those counts stay exact while the writer's cost stays bounded. Of the rest's
    blocked names only the `max_names` most frequent are counted: a flood of distinct names
    would otherwise cost one upsert each (the writer's largest cost under load), and "top
    blocked names" needs only the top."""
    rows: list[Row] = []
    rollup: Counter[RollupKey] = Counter()
    names: Counter[NameKey] = Counter()
    rest: list[Record] = []
    if max_rows is not None and len(records) > max_rows:
        records, rest = records[:max_rows], records[max_rows:]
    for mono, ip, device, i in records:
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
    if rest:
        hour = int((rest[-1][0] + wall_offset) // 3600)
        flood: Counter[NameKey] = Counter()
        # zip/map/itemgetter iterate in C: about 100 ns a record
        for (device, i), n in Counter(zip(map(_DEVICE, rest), map(_INFO, rest), strict=True)).items():
            mode = privacy.get(i[PROFILE], DEFAULT_PRIVACY)
            if mode == "off":
                continue
            rollup[(hour, "" if mode == "anonymous" else device, i[PROFILE], group(i), i[OUTCOME])] += n
            name = "" if i[FEED] and i[FEED] in hashed_feeds else i[NAME]
            if mode != "counts" and name and i[OUTCOME] == "blocked":
                flood[(hour, i[PROFILE], name)] += n
        for key, n in (flood.most_common(max_names) if len(flood) > max_names else flood.items()):
            names[key] += n
    return Batch(rows, rollup, names, len(rest))


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
