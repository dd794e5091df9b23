"""The query log's in-memory side: a bounded ring the resolver appends to, and the pure
functions that turn its records into log rows and hourly rollups under each profile's
privacy mode. The shell (shell/querylog_writer.py) drains the ring into SQLite.

A record is a 4-tuple (monotonic time, client ip, device, LogInfo). Everything that
describes an answer lives in the LogInfo, which the fast path builds once per prebuilt
entry (at install time), so a replayed answer costs one tuple and one deque append.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter

from dnsfilter.core.wire import wire_to_text
from dnsfilter.model import Reason

RING_SIZE = 65536  # records kept between drains (a few seconds at 10k queries/s)

# Privacy modes of a profile, with the sentence the UI shows parents.
PRIVACY_MODES: dict[str, str] = {
    "full": "Every site looked up is recorded with the device that asked, so you can see who visited what.",
    "anonymous": "Sites looked up are recorded, but not which device or person asked.",
    "counts": "Only totals are kept (how many lookups and blocks per device each hour); no site names are recorded.",
    "off": "Nothing is recorded about this profile's devices.",
}
DEFAULT_PRIVACY = "full"


@dataclass(frozen=True, slots=True, eq=False)
class LogInfo:
    """What a log row says about one answer, apart from who asked and when.

    `name` is "" when the answer was decided by a hashed (sha256) feed: such names are
    never written in clear anywhere, only the feed id. Compared by identity: a fast-path
    entry's info is one object, so counting replays per entry hashes cheaply.
    """

    profile: str
    name: str
    qtype: int
    outcome: str
    kind: str = ""
    category: str = ""
    feed: str = ""
    service: str = ""

    @property
    def group(self) -> str:
        """The rollup's category column: a feed category, else the service, else the rule kind."""
        return self.category or self.service or self.kind


Record = tuple[float, str, str, LogInfo]  # (monotonic time, client ip, device, info)

# A log row as stored: (unix time, device, ip, profile, name, qtype, outcome, kind, category, feed, service)
Row = tuple[float, str, str, str, str, int, str, str, str, str, str]
_DEVICE, _INFO = itemgetter(2), itemgetter(3)
RollupKey = tuple[int, str, str, str, str]  # (unix hour, device, profile, category group, outcome)
NameKey = tuple[int, str, str]  # (unix hour, profile, blocked name)


class QueryLog:
    """The ring and what the resolver needs to fill it: which profiles are not logged at
    all (privacy "off") and which feeds are hashed. The shell refreshes both on reload."""

    def __init__(self, size: int = RING_SIZE) -> None:
        self.ring: deque[Record] = deque(maxlen=size)
        self.off: frozenset[str] = frozenset()
        self.hashed_feeds: frozenset[str] = frozenset()

    def info(self, profile: str, qname: bytes, qtype: int, outcome: str, reason: Reason | None) -> LogInfo | None:
        """The description of an answer, or None when its profile logs nothing."""
        if profile in self.off:
            return None
        if reason is None:
            return LogInfo(profile, wire_to_text(qname), qtype, outcome)
        feed = reason.feed or ""
        name = "" if feed and feed in self.hashed_feeds else wire_to_text(qname)
        return LogInfo(profile, name, qtype, outcome, reason.kind or "", reason.category or "", feed,
                       reason.service or "")

    def record(self, now: float, ip: str, device: str, info: LogInfo | None) -> None:
        if info is not None:
            self.ring.append((now, ip, device, info))

    def drain(self) -> tuple[list[Record], bool]:
        """Everything recorded since the last drain, and whether the ring overflowed (the
        oldest records were lost). Called on the event loop: the ring is not shared with threads."""
        full = len(self.ring) == self.ring.maxlen
        out = list(self.ring)
        self.ring.clear()
        return out, full


@dataclass
class Batch:
    """Records turned into what the store writes in one transaction."""

    rows: list[Row]
    rollup: Counter[RollupKey]
    names: Counter[NameKey]
    shed: int = 0  # records counted in the rollups but not written as rows (over max_rows)


def batch(records: list[Record], wall_offset: float, privacy: Mapping[str, str],
          hashed_feeds: frozenset[str] = frozenset(), max_rows: int | None = None) -> Batch:
    """Apply each profile's privacy mode: full keeps everything; anonymous drops the device
    and address; counts keeps only the rollup (no names); off keeps nothing.

    Beyond `max_rows` records (a flood: a home sends tens of queries a second, not tens of
    thousands) the rest are only counted, per (device, answer), into the rollups of the last
    record's hour: the counts stay exact while the writer's cost stays bounded."""
    rows: list[Row] = []
    rollup: Counter[RollupKey] = Counter()
    names: Counter[NameKey] = Counter()
    rest: list[Record] = []
    if max_rows is not None and len(records) > max_rows:
        records, rest = records[:max_rows], records[max_rows:]
    for mono, ip, device, i in records:
        mode = privacy.get(i.profile, DEFAULT_PRIVACY)
        if mode == "off":
            continue
        ts = mono + wall_offset
        hour = int(ts // 3600)
        if mode != "full":
            ip = ""
            if mode == "anonymous":
                device = ""
        rollup[(hour, device, i.profile, i.group, i.outcome)] += 1
        if mode == "counts":
            continue
        # A defence in depth: the name was blanked at record time if the feed was known hashed.
        name = "" if i.feed and i.feed in hashed_feeds else i.name
        if name and i.outcome == "blocked":
            names[(hour, i.profile, name)] += 1
        rows.append((ts, device, ip, i.profile, name, i.qtype, i.outcome, i.kind, i.category, i.feed, i.service))
    if rest:
        hour = int((rest[-1][0] + wall_offset) // 3600)
        # zip/map/itemgetter iterate in C: about 100 ns a record (a LogInfo hashes by identity)
        for (device, i), n in Counter(zip(map(_DEVICE, rest), map(_INFO, rest), strict=True)).items():
            mode = privacy.get(i.profile, DEFAULT_PRIVACY)
            if mode == "off":
                continue
            rollup[(hour, "" if mode == "anonymous" else device, i.profile, i.group, i.outcome)] += n
            name = "" if i.feed and i.feed in hashed_feeds else i.name
            if mode != "counts" and name and i.outcome == "blocked":
                names[(hour, i.profile, name)] += n
    return Batch(rows, rollup, names, len(rest))


# ------------------------------------------------------------ metrics

def _esc(v: object) -> str:
    return str(v).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def metrics_text(status: Mapping[str, object]) -> str:
    """The daemon's status (`ctl status`, plus `answers`, `feed_ages`, `workers` and `querylog`
    when known) in the Prometheus text exposition format, for `/metrics`. Written by hand:
    it is a few lines of text, and the daemon needs no extra dependency for it."""
    out: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: Iterable[tuple[Mapping[str, object], object]]) -> None:
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
