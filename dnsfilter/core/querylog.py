"""The query log's in-memory side: a bounded ring the resolver appends to, and the pure
functions that turn its records into log rows and hourly rollups under each profile's
privacy mode. The shell (shell/querylog_writer.py) drains the ring into SQLite.

A record is a 4-tuple (monotonic time, client ip, device, LogInfo). Everything that
describes an answer lives in the LogInfo tuple, which the fast path builds once per prebuilt
entry (at install time), so a replayed answer costs one tuple and one deque append.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from operator import attrgetter, itemgetter
from random import Random
from typing import Any, Final

from dnsfilter.core.dns.wire import wire_to_text
from dnsfilter.core.model import Reason

RING_SIZE = 65536  # records kept between drains (a few seconds at 10k queries/s)
RING_SMALL = 4096  # the fast ring while nothing floods it (96 KB of lists, not 1.5 MB)
CALM_TAKES = 30  # takes without a flood (a minute) before the spare ring lists are freed
FLOOD_NAMES = 200  # blocked names counted per batch beyond its rows (see batch)
NAME_SAMPLE = 4096  # records of a flood whose names are counted (see batch)
COUNT_CHUNK = 2048  # records counted per C call: about half a millisecond holding the GIL
EXACT_COUNT = 16384  # beyond this many records of a ring in one drain, rollups are estimated (see batch)

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
    fast path's throughput under load (cold allocations, collector passes).

    With `small`, the fast ring starts at that size and takes `size` only when a take finds
    it more than half full (a home's few queries a second never do), and goes back to `small`
    after a calm minute: a router keeps 96 KB of lists, a busy server gets the full ring at
    its first burst (whose overflow, if any, is estimated like any other)."""

    def __init__(self, size: int = RING_SIZE, small: int | None = None) -> None:
        self.small = size if small is None else min(small, size)
        assert not size & (size - 1) and not self.small & (self.small - 1), "the fast ring's sizes are powers of two"
        self.size = size
        self.ring: deque[Record] = deque(maxlen=size)
        self.off: frozenset[str] = frozenset()
        self.hashed_feeds: frozenset[str] = frozenset()
        self.mask = self.small - 1
        self.times: list[float] = [0.0] * self.small
        self.slots: list[Any] = [None] * self.small  # fastpath.Slot: .ip and .device
        self.infos: list[Any] = [None] * self.small  # LogInfo; a take reads only positions written since the last
        self.pos = 0  # fast-path records ever written; the UDP loop keeps a local copy per batch
        self.drained = 0
        # Lists a flood's take handed over, given back by the writer when it is done with them
        # (Drained.release). Reusing them keeps the ring's lists old: a fresh 65k-entry list is
        # young, and every young collection walks all its entries while it lives (~5-10 ms
        # each on the bench machine, on whichever thread trips it, the UDP loop included).
        # One set is enough (the writer gives a set back before the next take), and it is freed
        # after CALM_TAKES takes without a flood: 1.5 MB a router should not keep for a burst.
        self.spare: list[tuple[list[float], list[Any], list[LogInfo | None]]] = []
        self.calm = 0  # takes since the last flood

    def info(self, profile: str, qname: bytes, qtype: int, outcome: str, reason: Reason | None) -> LogInfo | None:
        """The description of an answer, or None when its profile logs nothing."""
        if profile in self.off:
            return None
        if reason is None:
            return (profile, qname, qtype, outcome, "", "", "", "")
        feed = reason.feed or ""
        name = "" if feed and feed in self.hashed_feeds else qname
        return (profile, name, qtype, outcome, reason.kind or "", reason.category or "", feed, reason.service or "")

    def record(self, now: float, ip: str, device: str, info: LogInfo | None) -> None:
        if info is not None:
            self.ring.append((now, ip, device, info))

    def take(self) -> Drained:
        """Everything recorded since the last take. Called on the event loop (the rings are
        not shared with threads), so it copies few references: the slow ring is swapped for an
        empty one; the fast ring's new span is sliced out of its three lists, or, beyond a
        quarter of the ring, the lists are handed over whole (`Drained.whole`) and the ring
        gets fresh ones. Turning a flood's 65k replays into record tuples here stalled the loop
        for tens of ms; the writer's thread does it now, and only for the rows it writes."""
        slow, full = self.ring, len(self.ring) == self.ring.maxlen
        self.ring = deque(maxlen=self.ring.maxlen)
        pos, start, size = self.pos, self.drained, self.mask + 1
        replayed = pos - start  # fast-path answers since the last take, overwritten ones too
        if replayed > size:
            full, start = True, pos - size
        self.drained = pos
        if pos - start > size // 4:  # a flood: hand the lists over whole; the writer reads them in place
            self.calm = 0
            own, at = (self.times, self.slots, self.infos), start & self.mask
            self._use(self.size if pos - start > size // 2 else size)
            return Drained(slow, *own, full, replayed, (at, pos - start), self._give_back)
        self.calm += 1
        t: list[float] = []
        sl: list[Any] = []
        inf: list[Any] = []
        if pos > start:
            a, b = start & self.mask, pos & self.mask
            t, sl, inf = _span(self.times, a, b), _span(self.slots, a, b), _span(self.infos, a, b)
        if self.calm >= CALM_TAKES:
            self.spare.clear()
            if size > self.small:
                self._use(self.small)  # read out above: the loop starts the new lists at pos
        return Drained(slow, t, sl, inf, full, replayed)

    def _use(self, n: int) -> None:
        """Fresh lists of `n` records for the fast ring (a spare set if it has that size).
        The UDP loop reads the lists and the mask anew at each batch, and takes run between
        batches, so the next replay lands at `pos & mask` of these."""
        if self.spare and len(self.spare[0][0]) == n:
            self.times, self.slots, self.infos = self.spare.pop()
        else:
            self.spare.clear()  # another size: of no use any more
            self.times, self.slots, self.infos = [0.0] * n, [None] * n, [None] * n
        self.mask = n - 1

    def _give_back(self, lists: tuple[list[float], list[Any], list[Any]]) -> None:
        # from the writer's thread: list.append is atomic; stale entries in them are harmless
        # (a take reads only the span written since the last one)
        if not self.spare and len(lists[0]) == self.mask + 1:
            self.spare.append(lists)

    def drain(self) -> tuple[list[Record], bool]:
        """`take` as record tuples, and whether a ring overflowed (the oldest were lost)."""
        d = self.take()
        return d.records(), d.full


def _span(ring: list[Any], a: int, b: int) -> list[Any]:
    """Positions a..b of a ring list (a == b: one full turn)."""
    return ring[a:b] if a < b else ring[a:] + ring[:b]


@dataclass(slots=True)
class Drained:
    """What one take found in the rings: the slow ring's records, then the fast ring's span
    as three parallel lists (time, Slot, LogInfo), in the order they were answered within
    each ring. After a flood the lists are the ring's own, handed over whole (`whole`): they
    are read in place, never copied whole (a copy is a young 65k-entry list, which every
    young collection walks), and `release` gives them back to the ring's spares."""

    slow: deque[Record] | list[Record]
    times: list[float]
    slots: list[Any]
    infos: list[LogInfo]
    full: bool = False
    replayed: int = 0  # fast-path answers these stand for: more than fast_len() after an overflow
    # (start, count) when times/slots/infos are the ring's own lists, handed over whole by
    # `take` (copying 65k references three times on the loop cost it milliseconds)
    whole: tuple[int, int] | None = None
    give_back: Callable[[tuple[list[float], list[Any], list[Any]]], None] | None = None

    @classmethod
    def of(cls, records: Iterable[Record]) -> Drained:
        return cls(list(records), [], [], [])

    def __len__(self) -> int:
        return len(self.slow) + self.fast_len()

    def fast_len(self) -> int:
        return self.whole[1] if self.whole is not None else len(self.infos)

    def fast_span(self, lo: int, hi: int) -> tuple[list[float], list[Any], list[LogInfo]]:
        """Copies of the fast ring's records lo..hi (positions in answer order)."""
        hi = min(hi, self.fast_len())
        if lo >= hi:
            return [], [], []
        if self.whole is None:
            return self.times[lo:hi], self.slots[lo:hi], self.infos[lo:hi]
        a, mask = self.whole[0], len(self.infos) - 1
        b, e = (a + lo) & mask, (a + hi) & mask
        return _span(self.times, b, e), _span(self.slots, b, e), _span(self.infos, b, e)

    def fast_pick(self, js: Iterable[int]) -> tuple[list[Any], list[LogInfo]]:
        """The Slots and LogInfos of the fast ring's records at positions `js`."""
        if self.whole is None:
            at = list(js)
        else:
            a, mask = self.whole[0], len(self.infos) - 1
            at = [(a + j) & mask for j in js]
        return list(map(self.slots.__getitem__, at)), list(map(self.infos.__getitem__, at))

    def last_time(self) -> float:
        n = self.fast_len()
        if not n:
            return 0.0
        if self.whole is None:
            return self.times[-1]
        return self.times[(self.whole[0] + n - 1) & (len(self.times) - 1)]

    def release(self) -> None:
        """Done with the records: the ring's own lists go back to its spares."""
        if self.whole is not None and self.give_back is not None:
            self.give_back((self.times, self.slots, self.infos))
        self.times, self.slots, self.infos, self.whole, self.give_back = [], [], [], None, None
        self.slow = []

    def _slow(self) -> list[Record]:
        if not isinstance(self.slow, list):  # the swapped-out deque, listed in the writer's thread
            self.slow = list(self.slow)
        return self.slow

    def records(self, limit: int | None = None) -> list[Record]:
        """The first `limit` records (all when None) as tuples."""
        slow = self._slow()
        out = list(slow) if limit is None else slow[:limit]
        k = self.fast_len() if limit is None else max(0, limit - len(out))
        t, sl, inf = self.fast_span(0, k)
        out += [(t, s.ip, s.device, i) for t, s, i in zip(t, sl, inf, strict=True)]
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


def _slow_part(records: list[Record], sel: slice | list[int]) -> tuple[list[str], list[LogInfo]]:
    """Devices and LogInfos of the slow ring's records `sel` (a slice or indexes)."""
    part = records[sel] if isinstance(sel, slice) else [records[j] for j in sel]
    return list(map(_DEVICE, part)), list(map(_INFO, part))


def _fast_part(d: Drained, k: int, sel: slice | list[int]) -> tuple[list[str], list[LogInfo]]:
    """The same for the fast ring's records from position k on, read in place."""
    if isinstance(sel, slice):
        _t, slots, infos = d.fast_span(k + sel.start, k + sel.stop)
    else:
        slots, infos = d.fast_pick([k + j for j in sel])
    return list(map(_SLOT_DEVICE, slots)), infos


def _pairs(devices: list[str], infos: list[LogInfo]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(device, rollup fields) per record, for a Counter to count in C."""
    return zip(devices, map(_ROLL, infos), strict=True)


def _count_rest(d: Drained, skip: int, wall_offset: float, privacy: Mapping[str, str],
                hashed_feeds: frozenset[str], max_names: int, rollup: Counter[RollupKey],
                names: Counter[NameKey], pause: Callable[[], None] | None, text: _Texts) -> None:
    slow = d._slow()
    last = max(d.last_time(), slow[-1][0] if slow else 0.0)
    hour = int((last + wall_offset) // 3600)  # the flood's rollups go to its last hour
    k = max(0, skip - len(slow))
    slow = slow[skip:]
    nfast = d.fast_len() - k
    counts: Counter[tuple[str, tuple[str, ...]]] = Counter()
    sampled: list[tuple[list[LogInfo], float]] = []  # infos whose names are counted, and the weight of each
    total = len(slow) + nfast
    for size, answers, part in (
            (len(slow), len(slow), partial(_slow_part, slow)),
            # the fast ring's rest stands for the replays an overflow overwrote too
            (nfast, max(nfast, d.replayed - k), partial(_fast_part, d, k))):
        if not size:
            continue
        if size <= EXACT_COUNT and answers == size:
            # counted by zip/map/itemgetter/Counter in C (about 0.2 µs a record), a chunk at a time
            for a in range(0, size, COUNT_CHUNK):
                counts.update(_pairs(*part(slice(a, a + COUNT_CHUNK))))
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
    ql = get("querylog") or {}
    assert isinstance(ql, Mapping)
    metric("querylog_rows_written_total", "counter", "Query log rows written to disk.", [({}, ql.get("written"))])
    metric("querylog_overflows_total", "counter", "Ring drains that found records lost (ring full).",
           [({}, ql.get("lost"))])
    metric("querylog_rows_shed_total", "counter", "Answers only counted in the rollups during floods.",
           [({}, ql.get("shed"))])
    return "\n".join(out) + "\n"
